"""Security and operations contracts on the rendered output, and checkov on it."""

from __future__ import annotations

import re
from typing import Any

from chart_contracts import contract_errors, image_errors, workloads
from chart_render import FIXTURES, Rendered, load_all

SKIP = re.compile(r"^(CKV2?_K8S_\d+)=(.+)$")


def test_every_workload_keeps_the_contracts(all_rendered: list[Rendered]) -> None:
    errors = [f"{item.name}: {e}" for item in all_rendered for e in contract_errors(item.objects)]
    assert errors == []


def test_contracts_cover_every_workload_kind(all_rendered: list[Rendered]) -> None:
    kinds = {w.obj["kind"] for item in all_rendered for obj in item.objects for w in workloads(obj)}
    assert {"Deployment", "Job", "InferenceService"} <= kinds


def test_insecure_fixture_breaks_every_contract() -> None:
    errors = "\n".join(
        contract_errors(load_all((FIXTURES / "insecure-deployment.yaml").read_text()))
    )
    for expected in (
        "host namespaces",
        "runAsNonRoot",
        "allowPrivilegeEscalation",
        "read-only",
        "privileged",
        "ALL is not dropped",
        "adds capabilities",
        "seccompProfile",
        "no requests cpu",
        "no limits memory",
        "uses latest",
        "no readinessProbe",
        "no livenessProbe",
        "no NetworkPolicy",
        "no PodDisruptionBudget",
    ):
        assert expected in errors, f"the insecure fixture did not trip: {expected}"


def test_image_pinning_rules() -> None:
    assert image_errors("ghcr.io/mlflow/mlflow:v3.17.2-full") == []
    assert image_errors("ghcr.io/x/y@sha256:" + "a" * 64) == []
    assert image_errors("localhost:5000/x/y")
    assert image_errors("nginx:latest")
    assert image_errors("nginx")


def test_checkov_passes_on_rendered_manifests(checkov_results: dict[str, Any]) -> None:
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in checkov_results["rendered_failed"]
    ]
    assert failed == []
    assert len(checkov_results["rendered_passed"]) > 100


def test_checkov_fails_on_the_insecure_fixture(checkov_results: dict[str, Any]) -> None:
    failed = {c["check_id"] for c in checkov_results["negative_failed"]}
    # root containers, privilege, capabilities, limits, probes, latest image, host network
    assert {"CKV_K8S_16", "CKV_K8S_20", "CKV_K8S_22", "CKV_K8S_8", "CKV_K8S_14"} <= failed


def test_every_checkov_suppression_has_an_id_and_a_reason(
    all_rendered: list[Rendered], checkov_results: dict[str, Any]
) -> None:
    annotations = [
        (item.name, f"{obj['kind']}/{obj['metadata']['name']}", key, value)
        for item in all_rendered
        for obj in item.objects
        for key, value in (obj["metadata"].get("annotations") or {}).items()
        if key.startswith("checkov.io/skip")
    ]
    assert annotations, "expected the documented suppressions"
    for where, obj, key, value in annotations:
        match = SKIP.match(value)
        assert match, f"{where} {obj} {key}: not '<check id>=<reason>': {value!r}"
        assert len(match.group(2).split()) >= 6, f"{where} {obj} {key}: reason too short"
    ids = {SKIP.match(value).group(1) for *_, value in annotations}  # type: ignore[union-attr]
    assert ids <= {"CKV_K8S_35", "CKV_K8S_38", "CKV_K8S_43"}, f"new suppression ids: {ids}"
    for check in checkov_results["rendered_skipped"]:
        assert check.get("check_id") in ids

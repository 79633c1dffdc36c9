"""Every chart lints, renders every profile, and every rendered object is schema-valid."""

from __future__ import annotations

from pathlib import Path

import pytest
from chart_render import CHARTS, FIXTURES, NAMESPACES, PROFILES, Rendered, helm, load_all, run

from slipway.kube.manifests import validate_manifest, validate_manifests

CHART_NAMES = sorted(NAMESPACES)
BAD_VALUES = sorted((FIXTURES / "bad-values").glob("*.yaml"))


@pytest.mark.parametrize(("chart", "profile"), PROFILES, ids=[f"{c}/{p}" for c, p in PROFILES])
def test_helm_lint_strict(chart: str, profile: str) -> None:
    values = CHARTS / chart / "ci" / f"{profile}-values.yaml"
    result = run([helm(), "lint", "--strict", str(CHARTS / chart), "--values", str(values)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_chart_layout(chart: str) -> None:
    root = CHARTS / chart
    for path in (
        "Chart.yaml",
        "values.yaml",
        "values.schema.json",
        "README.md",
        "templates/_helpers.tpl",
        "templates/NOTES.txt",
        "ci/minimal-values.yaml",
        "ci/production-values.yaml",
    ):
        assert (root / path).is_file(), f"{chart}: missing {path}"
    assert list((root / "templates" / "tests").glob("*.yaml")), f"{chart}: no helm test"
    helpers = (root / "templates" / "_helpers.tpl").read_text()
    for helper in ("name", "fullname", "labels", "selectorLabels", "serviceAccountName"):
        assert f'define "{chart}.{helper}"' in helpers, f"{chart}: no {helper} helper"


@pytest.mark.parametrize("bad", BAD_VALUES, ids=[p.stem for p in BAD_VALUES])
def test_values_schema_refuses_bad_values(bad: Path) -> None:
    chart = next(c for c in CHART_NAMES if bad.stem.startswith(c + "-"))
    result = run([helm(), "lint", "--strict", str(CHARTS / chart), "--values", str(bad)])
    assert result.returncode != 0, f"{bad.name} passed the values schema"
    assert "schema" in (result.stdout + result.stderr).lower()


def test_every_profile_renders_objects(all_rendered: list[Rendered]) -> None:
    for item in all_rendered:
        assert item.objects or item.profile.startswith(("disabled", "no-")), item.name
        for obj in item.objects:
            assert obj["metadata"].get("namespace") or obj["kind"] in {"Namespace"}, (
                f"{item.name}: {obj['kind']}/{obj['metadata']['name']} has no namespace"
            )


def test_rendered_objects_are_schema_valid(
    all_rendered: list[Rendered], crd_schema_dir: Path
) -> None:
    errors = [
        f"{item.name}: {error}"
        for item in all_rendered
        for error in validate_manifests(item.objects, crd_schema_dir)
    ]
    assert errors == []


def test_validator_rejects_invalid_objects(crd_schema_dir: Path) -> None:
    objects = load_all((FIXTURES / "invalid-objects.yaml").read_text())
    for obj in objects:
        assert validate_manifest(obj, crd_schema_dir), f"{obj['metadata']['name']} passed"
    errors = validate_manifests(objects, crd_schema_dir)
    assert any("replicaz" in e for e in errors)
    assert any("canaryTrafficPercnt" in e for e in errors)
    assert any("labelz" in e for e in errors)


def test_validator_rejects_unknown_kinds(crd_schema_dir: Path) -> None:
    for obj in load_all((FIXTURES / "unknown-kinds.yaml").read_text()):
        errors = validate_manifest(obj, crd_schema_dir)
        assert len(errors) == 1
        assert "unknown kind" in errors[0]


def test_validator_rejects_non_objects(crd_schema_dir: Path) -> None:
    assert validate_manifest({"kind": "ConfigMap"}, crd_schema_dir)
    assert validate_manifest(["not", "a", "mapping"], crd_schema_dir)  # type: ignore[arg-type]

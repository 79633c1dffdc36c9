"""What the images and e2e workflows must do, read from the YAML: the three image names, the
GitHub cache, the scan that fails on critical findings, push only on main or a tag, SBOM and
provenance, the digest-bump pull request, least privilege per job; the e2e job's kind
cluster, images of the same run, and the scripts in order."""

from __future__ import annotations

from typing import Any

from gha_tools import GITHUB_DIR, REPO
from ruamel.yaml import YAML

IMAGES = {
    "ghcr.io/slipway-ml/slipway-trainer",
    "ghcr.io/slipway-ml/slipway-trainer-cuda",
    "ghcr.io/slipway-ml/slipway-predictor",
}


def load(name: str) -> Any:
    return YAML(typ="safe").load((GITHUB_DIR / "workflows" / name).read_text())


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if str(s.get("uses", "")).startswith(action + "@")]


def test_images_builds_the_three_images_from_dockerfiles_in_the_repository() -> None:
    build = load("images.yml")["jobs"]["build"]
    matrix = build["strategy"]["matrix"]["include"]
    assert {f"ghcr.io/slipway-ml/{m['image']}" for m in matrix} == IMAGES
    assert build["env"]["IMAGE"] == "ghcr.io/slipway-ml/${{ matrix.image }}"
    for entry in matrix:
        assert (REPO / entry["file"]).is_file(), f"{entry['image']}: no {entry['file']}"


def test_images_caches_scans_and_pushes_with_sbom_and_provenance() -> None:
    build = load("images.yml")["jobs"]["build"]
    scan_build, push = steps_using(build, "docker/build-push-action")
    assert scan_build["with"]["load"] is True and scan_build["with"]["push"] is False
    assert scan_build["with"]["cache-from"].startswith("type=gha")
    assert (
        scan_build["with"]["cache-to"].startswith("type=gha")
        and "mode=max" in scan_build["with"]["cache-to"]
    )
    (trivy,) = steps_using(build, "aquasecurity/trivy-action")
    assert trivy["with"]["severity"] == "CRITICAL" and trivy["with"]["exit-code"] == "1"
    order = [s.get("uses", s.get("name")) for s in build["steps"]]
    assert order.index(trivy["uses"]) < order.index(
        push["uses"], order.index(scan_build["uses"]) + 1
    )
    assert push["if"] == "env.PUSH == 'true'"
    assert build["env"]["PUSH"] == "${{ github.event_name == 'push' && 'true' || 'false' }}"
    assert push["with"]["push"] is True and push["with"]["sbom"] is True
    assert push["with"]["provenance"] == "mode=max"
    assert push["with"]["tags"] == "${{ steps.tags.outputs.tags }}"
    (login,) = steps_using(build, "docker/login-action")
    assert login["if"] == "env.PUSH == 'true'" and login["with"]["registry"] == "ghcr.io"


def test_images_pushes_on_main_and_version_tags_and_bumps_only_from_main() -> None:
    wf = load("images.yml")
    assert wf["on"]["push"] == {"branches": ["main"], "tags": ["v*"]}
    tags_step = next(s for s in wf["jobs"]["build"]["steps"] if s.get("id") == "tags")
    assert '"$IMAGE:$GITHUB_SHA"' in tags_step["run"] and "${REF_NAME#v}" in tags_step["run"]
    bump = wf["jobs"]["bump"]
    assert bump["needs"] == ["build"]
    assert bump["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    run = next(s["run"] for s in bump["steps"] if "bump_image_digests.py" in s.get("run", ""))
    assert 'PYTHONPATH=src python scripts/bump_image_digests.py "${pairs[@]}"' in run
    (pr,) = steps_using(bump, "peter-evans/create-pull-request")
    assert pr["with"]["add-paths"] == "argocd/values/**"


def test_images_permissions_are_least_privilege() -> None:
    wf = load("images.yml")
    assert wf["permissions"] == {"contents": "read"}
    assert wf["jobs"]["build"]["permissions"] == {"contents": "read", "packages": "write"}
    assert wf["jobs"]["bump"]["permissions"] == {"contents": "write", "pull-requests": "write"}


def test_e2e_runs_kind_with_the_images_of_the_same_run_and_the_scripts_in_order() -> None:
    wf = load("e2e.yml")
    assert wf["permissions"] == {"contents": "read"}
    (job,) = wf["jobs"].values()
    assert "permissions" not in job  # the read-only top level is all it needs
    builds = steps_using(job, "docker/build-push-action")
    built = {b["with"]["tags"].replace("${{ env.E2E_TAG }}", "e2e") for b in builds}
    assert built == {
        "ghcr.io/slipway-ml/slipway-trainer:e2e",
        "ghcr.io/slipway-ml/slipway-predictor:e2e",
    }
    assert all(b["with"]["load"] is True and "cache-to" not in b["with"] for b in builds)
    (kind,) = steps_using(job, "helm/kind-action")
    assert (REPO / kind["with"]["config"]).is_file()
    runs = [s.get("run", "") for s in job["steps"]]
    load_step = next(r for r in runs if "kind load docker-image" in r)
    assert all(tag.replace("e2e", "$E2E_TAG") in load_step for tag in built)
    scripts = [r.strip() for r in runs if r.strip().startswith("scripts/e2e/")]
    assert scripts == [
        "scripts/e2e/install-platform.sh",
        "scripts/e2e/start-stand-ins.sh",
        "scripts/e2e/install-slipway.sh",
        "scripts/e2e/run-canary.sh",
        "scripts/e2e/collect-logs.sh",
    ]

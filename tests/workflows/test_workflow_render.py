"""The rendered YAML (charts/ml-workflows/files/workflows/, its one copy): in sync with the
definitions, schema-valid against the Argo CRDs, and round-trips through Hera."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hera.workflows import CronWorkflow, WorkflowTemplate
from typer.testing import CliRunner

from slipway.cli.workflow import workflow_app
from slipway.kube.manifests import validate_manifest
from slipway.workflow import render

EXPECTED = {"slipway-train-and-promote.yaml", "slipway-drift-monitor.yaml"}


def _load(path: Path) -> dict[str, Any]:
    obj: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return obj


def _rendered_files(repo_root: Path) -> list[Path]:
    return sorted((repo_root / render.RENDERED_DIR).glob("*.yaml"))


def test_checked_in_yaml_is_what_the_definitions_render_now(repo_root: Path) -> None:
    """The one copy of the rendered YAML (the chart's) equals a fresh render, file for file."""
    assert set(render.rendered()) == EXPECTED
    assert render.differences(repo_root) == [], "run `slipway workflow render` and commit"
    assert {p.name for p in _rendered_files(repo_root)} == EXPECTED
    for name, text in render.rendered().items():
        assert (repo_root / render.RENDERED_DIR / name).read_text(encoding="utf-8") == text


def _render_header_files(root: Path) -> list[Path]:
    """Every YAML file under root (hidden folders aside) that carries the render header."""
    return [
        path.relative_to(root)
        for top in sorted(root.iterdir())
        if top.is_dir() and not top.name.startswith(".") and top.name not in {"build", "dist"}
        for path in sorted(top.rglob("*.yaml"))
        if path.read_text(encoding="utf-8", errors="replace").startswith(render.HEADER)
    ]


def test_the_rendered_yaml_has_one_copy(repo_root: Path, tmp_path: Path) -> None:
    """No file outside the chart's folder carries the render header: no second copy."""
    expected = sorted(render.RENDERED_DIR / name for name in EXPECTED)
    assert _render_header_files(repo_root) == expected
    # the scan finds a second copy where there is one
    shutil.copytree(repo_root / render.RENDERED_DIR, tmp_path / render.RENDERED_DIR)
    second = tmp_path / "workflows" / "rendered"
    second.mkdir(parents=True)
    shutil.copy(tmp_path / render.RENDERED_DIR / "slipway-drift-monitor.yaml", second)
    assert _render_header_files(tmp_path) == sorted(
        [*expected, Path("workflows/rendered/slipway-drift-monitor.yaml")]
    )


def test_render_check_fails_on_a_stale_copy_and_render_repairs_it(
    repo_root: Path, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    shutil.copytree(repo_root / render.RENDERED_DIR, root / render.RENDERED_DIR)
    runner = CliRunner()
    assert runner.invoke(workflow_app, ["render", "--check", "--root", str(root)]).exit_code == 0

    stale = root / render.RENDERED_DIR / "slipway-drift-monitor.yaml"
    stale.write_text(stale.read_text().replace("0 6 * * *", "0 7 * * *"))
    (root / render.RENDERED_DIR / "slipway-train-and-promote.yaml").unlink()
    (root / render.RENDERED_DIR / "retired.yaml").write_text("kind: WorkflowTemplate\n")
    checked = runner.invoke(workflow_app, ["render", "--check", "--root", str(root)])
    assert checked.exit_code == 1
    for name in ("slipway-drift-monitor.yaml", "slipway-train-and-promote.yaml", "retired.yaml"):
        assert name in checked.output
    assert not (root / render.RENDERED_DIR / "slipway-train-and-promote.yaml").exists()

    assert runner.invoke(workflow_app, ["render", "--root", str(root)]).exit_code == 0
    assert render.differences(root) == []
    assert not (root / render.RENDERED_DIR / "retired.yaml").exists()
    assert runner.invoke(workflow_app, ["render", "--check", "--root", str(root)]).exit_code == 0


def test_render_refuses_a_folder_that_is_not_the_repository(tmp_path: Path) -> None:
    result = CliRunner().invoke(workflow_app, ["render", "--check", "--root", str(tmp_path)])
    assert result.exit_code == 1
    assert "not the repository root" in result.output


def test_every_rendered_object_is_valid_against_the_argo_crd_schemas(
    repo_root: Path, crd_schema_dir: Path
) -> None:
    files = _rendered_files(repo_root)
    assert {p.name for p in files} == EXPECTED
    for path in files:
        assert validate_manifest(_load(path), crd_schema_dir) == [], path.name


def _workflow_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"].get("workflowSpec", obj["spec"])
    return spec


def _broken(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """Copies of a valid workflow object, each with one mistake a schema must catch."""
    typo, quantity, nameless = (copy.deepcopy(obj) for _ in range(3))
    _workflow_spec(typo)["entrypoitn"] = "pipeline"
    script = next(t for t in _workflow_spec(quantity)["templates"] if "script" in t)
    # Argo cannot take a variable in a quantity: why the GPU count goes in a podSpecPatch.
    script["script"]["resources"]["limits"]["nvidia.com/gpu"] = "{{inputs.parameters.gpus}}"
    dag = next(t for t in _workflow_spec(nameless)["templates"] if "dag" in t)
    del dag["dag"]["tasks"][0]["name"]
    return [typo, quantity, nameless]


def test_broken_workflow_objects_fail_schema_validation(
    repo_root: Path, crd_schema_dir: Path
) -> None:
    for path in _rendered_files(repo_root):
        for broken in _broken(_load(path)):
            assert validate_manifest(broken, crd_schema_dir), f"a broken {path.name} passed"
    fixture = (Path(__file__).parent / "fixtures" / "broken-workflows.yaml").read_text()
    template, cron = yaml.safe_load_all(fixture)
    errors = "\n".join(validate_manifest(template, crd_schema_dir))
    for expected in ("entrypoitn", "dependencies", "limits.cpu"):
        assert expected in errors
    errors = "\n".join(validate_manifest(cron, crd_schema_dir))
    assert "schedule" in errors


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_rendered_yaml_round_trips_through_hera_and_plain_yaml(repo_root: Path, name: str) -> None:
    text = (repo_root / render.RENDERED_DIR / name).read_text(encoding="utf-8")
    assert text.startswith(render.HEADER)
    body = text[len(render.HEADER) :]
    as_dict = yaml.safe_load(body)
    kind = CronWorkflow if as_dict["kind"] == "CronWorkflow" else WorkflowTemplate
    # YAML -> Hera object -> YAML gives the same text, and the same dict.
    hera = kind.from_yaml(body)
    assert hera.to_yaml() == body
    assert hera.to_dict() == as_dict
    # plain YAML -> dict -> YAML -> dict is lossless (no tags, anchors or odd scalars).
    assert yaml.safe_load(yaml.safe_dump(as_dict)) == as_dict

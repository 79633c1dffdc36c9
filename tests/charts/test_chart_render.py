"""Every chart lints, renders every profile, and every rendered object is schema-valid; the
shared helpers live in the slipway-common library chart, built offline as Argo CD builds it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from chart_render import (
    CHARTS,
    FIXTURES,
    NAMESPACES,
    PROFILES,
    Rendered,
    copy_charts,
    dependency_build,
    helm,
    load_all,
    render,
    run,
)

from slipway.kube.manifests import validate_manifest, validate_manifests

CHART_NAMES = sorted(NAMESPACES)
LIBRARY = "slipway-common"
BAD_VALUES = sorted((FIXTURES / "bad-values").glob("*.yaml"))


@pytest.mark.parametrize(("chart", "profile"), PROFILES, ids=[f"{c}/{p}" for c, p in PROFILES])
def test_helm_lint_strict(chart: str, profile: str, built_charts: Path) -> None:
    values = CHARTS / chart / "ci" / f"{profile}-values.yaml"
    result = run([helm(), "lint", "--strict", str(built_charts / chart), "--values", str(values)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_library_chart_lints(built_charts: Path) -> None:
    result = run([helm(), "lint", "--strict", str(built_charts / LIBRARY)])
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
    assert shared_helper_errors(root) == []


def _defines(text: str) -> list[str]:
    return re.findall(r'define "([^"]+)"', text)


def library_helpers() -> set[str]:
    """The helper names slipway-common defines, without the library's prefix."""
    text = (CHARTS / LIBRARY / "templates" / "_helpers.tpl").read_text()
    return {d.removeprefix(f"{LIBRARY}.") for d in _defines(text)}


def shared_helper_errors(chart: Path) -> list[str]:
    """A chart takes the shared helpers from slipway-common and keeps no copy of its own."""
    name = chart.name
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    library = yaml.safe_load((CHARTS / LIBRARY / "Chart.yaml").read_text())
    wanted = {"name": LIBRARY, "version": library["version"], "repository": f"file://../{LIBRARY}"}
    errors = []
    dependencies = meta.get("dependencies") or []
    if not any({k: d.get(k) for k in wanted} == wanted for d in dependencies):
        errors.append(f"{name}: Chart.yaml does not depend on {wanted}")
    shared = library_helpers()
    templates = {p: p.read_text() for p in sorted((chart / "templates").rglob("*")) if p.is_file()}
    for path, text in templates.items():
        for define in _defines(text):
            if define.rpartition(".")[2] in shared:
                errors.append(f"{name}: {path.name} defines {define}, a copy of {LIBRARY}'s")
    if not any(f'include "{LIBRARY}.labels"' in text for text in templates.values()):
        errors.append(f"{name}: no template uses {LIBRARY}.labels")
    return errors


def test_library_chart_holds_the_shared_helpers() -> None:
    meta = yaml.safe_load((CHARTS / LIBRARY / "Chart.yaml").read_text())
    assert meta["type"] == "library"
    expected = {"name", "fullname", "chart", "labels", "selectorLabels", "serviceAccountName"}
    assert expected | {"image"} <= library_helpers()
    assert sorted(p.name for p in (CHARTS / LIBRARY / "templates").iterdir()) == ["_helpers.tpl"]


def test_a_copied_helper_or_a_missing_dependency_is_caught(tmp_path: Path) -> None:
    chart = shutil.copytree(CHARTS / "mlflow", tmp_path / "mlflow", ignore=_build_output)
    helpers = chart / "templates" / "_helpers.tpl"
    helpers.write_text(helpers.read_text() + '{{- define "mlflow.fullname" -}}x{{- end }}\n')
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    meta["dependencies"][0]["repository"] = "https://example.com/charts"
    (chart / "Chart.yaml").write_text(yaml.safe_dump(meta))
    errors = "\n".join(shared_helper_errors(chart))
    assert "defines mlflow.fullname" in errors
    assert "does not depend on" in errors


def _build_output(folder: str, names: list[str]) -> list[str]:
    return ["charts"] if "Chart.yaml" in names else []


def test_dependencies_build_offline_as_argo_cd_builds_them(tmp_path: Path) -> None:
    """Argo CD runs `helm dependency build` when helm template fails with this message, in a
    clone of the repository: so a clean copy of charts/ must fail with it, then build with an
    empty helm home (no repositories, no network) and render."""
    charts = copy_charts(tmp_path)
    chart = charts / "mlflow"
    values = CHARTS / "mlflow" / "ci" / "minimal-values.yaml"
    before = render(chart, "mlflow", values)
    assert before.returncode != 0
    assert "found in Chart.yaml, but missing in charts/ directory" in before.stderr
    built = dependency_build(chart, tmp_path / "helm-home")
    assert built.returncode == 0, built.stderr
    assert [p.name for p in (chart / "charts").iterdir()] == [f"{LIBRARY}-0.1.0.tgz"]
    after = render(chart, "mlflow", values)
    assert after.returncode == 0, after.stderr
    assert load_all(after.stdout)
    # the lock file in git is in step with Chart.yaml (build refuses a stale one), unchanged
    assert (chart / "Chart.lock").read_text() == (CHARTS / "mlflow" / "Chart.lock").read_text()


@pytest.mark.parametrize("bad", BAD_VALUES, ids=[p.stem for p in BAD_VALUES])
def test_values_schema_refuses_bad_values(bad: Path, built_charts: Path) -> None:
    chart = next(c for c in CHART_NAMES if bad.stem.startswith(c + "-"))
    result = run([helm(), "lint", "--strict", str(built_charts / chart), "--values", str(bad)])
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

"""The CRD schemas in ``schemas/crds/`` and the script that regenerates them.

The conversion runs on a tiny fixture CRD (``fixtures/crds``) and must give the strict
schema checked in under ``fixtures/expected``; a misspelt field must then be an error. The
in-repository schemas must match their source table and obey the same strictness rule.
Nothing here reaches the network: the script's fetch is the one part left to a real run.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from slipway.kube.manifests import validate_manifest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "update-crd-schemas.py"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

WIDGET: dict[str, Any] = {
    "apiVersion": "example.com/v1",
    "kind": "Widget",
    "metadata": {"name": "w", "namespace": "default"},
    "spec": {
        "size": 2,
        "operator": "=",
        "labels": {"any": "label"},
        "template": {"image": "x", "anything": {"goes": True}},
        "parts": [{"name": "a", "properties": ["p"]}],
        "port": 8080,
        "ref": {"name": "r"},
    },
    "status": {"free": "form"},
}


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("update_crd_schemas", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def run_script(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture
def converted(tmp_path: Path) -> Path:
    """The fixture CRD converted by the script, run as a user runs it."""
    out = tmp_path / "crds"
    result = run_script(
        "--sources", FIXTURES / "sources.yaml", "--from-dir", FIXTURES / "crds", "--out", out
    )
    assert result.returncode == 0, result.stderr
    return out


def with_spec(**changes: Any) -> dict[str, Any]:
    return WIDGET | {"spec": WIDGET["spec"] | changes}


# --------------------------------------------------------------------------- conversion


def test_fixture_crd_converts_to_the_expected_strict_schema(converted: Path) -> None:
    produced = sorted(p.relative_to(converted).as_posix() for p in converted.rglob("*.json"))
    assert produced == ["example.com/widget_v1.json"]  # v1alpha1 is not served
    expected = FIXTURES / "expected" / "example.com" / "widget_v1.json"
    assert (converted / produced[0]).read_text() == expected.read_text()


def test_strictness_rule_case_by_case(script: ModuleType) -> None:
    crd, _ = script.parse_yaml((FIXTURES / "crds" / "example.com_widgets.yaml").read_text())
    schema = script.convert_crd(crd)["v1"]
    spec = schema["properties"]["spec"]
    assert schema["additionalProperties"] is False
    assert spec["additionalProperties"] is False
    assert schema["properties"]["metadata"] == {"type": "object"}  # open, core-checked
    assert spec["properties"]["labels"]["additionalProperties"] == {"type": "string"}
    assert "additionalProperties" not in spec["properties"]["template"]  # preserves unknown
    part = spec["properties"]["parts"]["items"]
    assert part["additionalProperties"] is False
    assert set(part["properties"]) == {"name", "properties"}  # a field named "properties"
    assert "additionalProperties" not in spec["properties"]["ref"]["anyOf"][0]
    assert spec["properties"]["operator"]["enum"] == ["!=", "=", "=~"]
    assert spec["properties"]["since"]["default"] == "2026-01-01"
    assert schema["x-source"] == {
        "crd": "widgets.example.com",
        "served": True,
        "storage": True,
        "version": "v1",
    }


def test_converted_schema_accepts_a_valid_object(converted: Path) -> None:
    assert validate_manifest(WIDGET, converted) == []


@pytest.mark.parametrize(
    ("obj", "where"),
    [
        (with_spec(sizee=2), "spec"),  # misspelt field
        ({**WIDGET, "spec": {k: v for k, v in WIDGET["spec"].items() if k != "size"}}, "spec"),
        (with_spec(parts=[{"name": "a", "nmae": "b"}]), "spec.parts.0"),
        (with_spec(ref={"name": "r", "kye": "k"}), "spec.ref"),
        (with_spec(labels={"a": 1}), "spec.labels.a"),
        (with_spec(size=0), "spec.size"),
        (with_spec(operator="=="), "spec.operator"),
        ({**WIDGET, "specs": {}}, "<root>"),
        ({**WIDGET, "metadata": {"name": "w", "labls": {}}}, "metadata"),  # core ObjectMeta
    ],
)
def test_converted_schema_rejects(converted: Path, obj: dict[str, Any], where: str) -> None:
    errors = validate_manifest(obj, converted)
    assert errors, f"{obj} passed"
    assert any(f": {where}: " in e for e in errors), errors


def test_misspelt_field_error_names_the_field(converted: Path) -> None:
    (error,) = validate_manifest(with_spec(sizee=2), converted)
    assert "sizee" in error and "Additional properties are not allowed" in error


def test_version_that_is_not_served_is_an_unknown_kind(converted: Path) -> None:
    errors = validate_manifest(WIDGET | {"apiVersion": "example.com/v1alpha1"}, converted)
    assert any("unknown kind" in e for e in errors), errors


# --------------------------------------------------------------------------- script behaviour


def test_check_reports_up_to_date_then_stale_and_changed(converted: Path) -> None:
    args = ("--sources", FIXTURES / "sources.yaml", "--from-dir", FIXTURES / "crds")
    assert run_script(*args, "--out", converted, "--check").returncode == 0
    target = converted / "example.com" / "widget_v1.json"
    target.write_text(target.read_text().replace('"minimum": 1', '"minimum": 2'))
    (converted / "example.com" / "gadget_v1.json").write_text("{}\n")
    result = run_script(*args, "--out", converted, "--check")
    assert result.returncode == 1
    assert "differs: example.com/widget_v1.json" in result.stdout
    assert "stale: example.com/gadget_v1.json" in result.stdout
    assert run_script(*args, "--out", converted).returncode == 0  # rewrite, remove stale
    assert run_script(*args, "--out", converted, "--check").returncode == 0
    assert not (converted / "example.com" / "gadget_v1.json").exists()


def test_a_kind_missing_from_the_files_is_an_error(tmp_path: Path) -> None:
    sources = tmp_path / "sources.yaml"
    table = yaml.safe_load((FIXTURES / "sources.yaml").read_text())
    table["sources"][0]["kinds"].append("Gadget")
    sources.write_text(yaml.safe_dump(table))
    result = run_script("--sources", sources, "--from-dir", FIXTURES / "crds", "--out", tmp_path)
    assert result.returncode == 2
    assert "no CRD found for Gadget.example.com" in result.stderr


def test_a_file_that_is_not_yaml_is_skipped_in_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "upstream"
    shutil.copytree(FIXTURES / "crds", folder)
    (folder / "templated.yaml").write_text("{{- if .Values.x }}\nkind: CustomResourceDefinition\n")
    result = run_script(
        "--sources", FIXTURES / "sources.yaml", "--from-dir", folder, "--out", tmp_path / "o"
    )
    assert result.returncode == 0, result.stderr
    assert "skipped" in result.stderr and "templated.yaml" in result.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ref": "main"}, "a full 40-hex commit"),
        ({"kinds": []}, "non-empty list"),
        ({"extra": 1}, "needs exactly the fields"),
    ],
)
def test_source_table_is_checked(
    script: ModuleType, tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    table = yaml.safe_load((FIXTURES / "sources.yaml").read_text())
    table["sources"][0].update(change)
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(table))
    with pytest.raises(script.CRDSchemaError, match=message):
        script.load_sources(path)


def test_fetch_urls_name_the_pinned_commit(script: ModuleType) -> None:
    (source,) = script.load_sources(FIXTURES / "sources.yaml")
    url = source.url(source.files[0])
    assert url.endswith(
        "/example/widgets/0123456789abcdef0123456789abcdef01234567"
        "/config/crds/example.com_widgets.yaml"
    )


# --------------------------------------------------------------------------- in-repo schemas


def _open_objects(node: Any, where: str = "") -> list[str]:
    """Places where an object declares properties but is neither closed nor preserving."""
    if not isinstance(node, dict):
        return []
    found = []
    if (
        "properties" in node
        and "additionalProperties" not in node
        and node.get("x-kubernetes-preserve-unknown-fields") is not True
    ):
        found.append(where)
    for key in ("properties", "patternProperties"):
        for name, sub in (node.get(key) or {}).items():
            found += _open_objects(sub, f"{where}.{name}")
    if isinstance(node.get("items"), dict):
        found += _open_objects(node["items"], f"{where}[]")
    if isinstance(node.get("additionalProperties"), dict):
        found += _open_objects(node["additionalProperties"], f"{where}{{}}")
    return found


def test_repository_schemas_match_their_source_table(
    script: ModuleType, crd_schema_dir: Path
) -> None:
    sources = script.load_sources(crd_schema_dir / "sources.yaml")
    listed = {(s.group, kind.lower()) for s in sources for kind in s.kinds}
    files = sorted(crd_schema_dir.glob("*/*.json"))
    present = {(p.parent.name, p.stem.rpartition("_")[0]) for p in files}
    assert present == listed
    for path in files:
        schema = json.loads(path.read_text())
        version = path.stem.rpartition("_")[2]
        assert schema["x-source"]["version"] == version, path
        assert schema["x-source"]["crd"].endswith("." + path.parent.name), path
        assert schema["x-source"]["served"] is True, path
        assert schema["additionalProperties"] is False, path
        assert schema["properties"]["metadata"] == {"type": "object"}, path
        assert path.read_text() == script.dump(schema), f"{path}: not as the script writes it"


def test_repository_schemas_are_strict(crd_schema_dir: Path) -> None:
    for path in sorted(crd_schema_dir.glob("*/*.json")):
        assert _open_objects(json.loads(path.read_text()), "<root>") == [], path


def test_readme_names_every_pinned_source(script: ModuleType, crd_schema_dir: Path) -> None:
    readme = (crd_schema_dir / "README.md").read_text()
    for source in script.load_sources(crd_schema_dir / "sources.yaml"):
        assert source.repository in readme, source.repository
        assert source.ref[:8] in readme, (source.repository, source.ref)
        assert f"`{source.path}/`" in readme, source.path

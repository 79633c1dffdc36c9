"""Offline validation of Kubernetes manifests.

Core kinds (the built-in API groups) are checked against the strict schemas that the
``kubernetes-validate`` package ships; custom kinds against JSON Schemas laid out as
``<crd_dir>/<group>/<kind>_<version>.json`` (lower case). A kind that neither knows is an
error, never a silent pass. Every function returns a list of messages, empty when valid.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

#: Oldest Kubernetes version the platform supports; strict schemas of this version are used.
KUBERNETES_VERSION = "1.31"


def api_group(api_version: str) -> str:
    """``apps/v1`` -> ``apps``; ``v1`` -> ``""`` (the core group)."""
    return api_version.rpartition("/")[0]


def is_core_group(group: str) -> bool:
    """Built-in API groups: the core group, dotless ones (``apps``) and ``*.k8s.io``."""
    return "." not in group or group.endswith(".k8s.io")


def crd_schema_path(crd_dir: Path, api_version: str, kind: str) -> Path:
    group, _, version = api_version.rpartition("/")
    return crd_dir / group / f"{kind.lower()}_{version}.json"


@lru_cache(maxsize=128)
def _crd_validator(path: Path) -> jsonschema.protocols.Validator:
    schema = json.loads(path.read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    return validator_class(schema)


def _label(obj: dict[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    name = metadata.get("name", "<unnamed>") if isinstance(metadata, dict) else "<unnamed>"
    return f"{obj.get('kind', '<no kind>')}/{name}"


def _core_errors(obj: dict[str, Any], kubernetes_version: str) -> list[str]:
    try:
        kubernetes_validate.validate(obj, kubernetes_version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return [f"{_label(obj)}: unknown kind {obj['kind']} in {obj['apiVersion']}"]
    except kubernetes_validate.ValidationError as error:
        where = ".".join(str(part) for part in error.path) or "<root>"
        return [f"{_label(obj)}: {where}: {error.message}"]
    return []


def _custom_errors(obj: dict[str, Any], crd_dir: Path, kubernetes_version: str) -> list[str]:
    path = crd_schema_path(crd_dir, obj["apiVersion"], obj["kind"])
    if not path.is_file():
        return [f"{_label(obj)}: unknown kind {obj['kind']} in {obj['apiVersion']} (no {path})"]
    errors = [
        f"{_label(obj)}: {'.'.join(str(p) for p in error.absolute_path) or '<root>'}: "
        f"{error.message}"
        for error in _crd_validator(path).iter_errors(obj)
    ]
    # CRD schemas leave metadata open: check it with the core ObjectMeta schema, carried
    # by the simplest core kind.
    carrier = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj.get("metadata", {})}
    errors += [
        error.replace("ConfigMap/", f"{obj['kind']}/", 1)
        for error in _core_errors(carrier, kubernetes_version)
    ]
    return errors


def validate_manifest(
    obj: dict[str, Any], crd_schema_dir: Path, kubernetes_version: str = KUBERNETES_VERSION
) -> list[str]:
    """Validate one object; return its errors (empty when valid)."""
    if not isinstance(obj, dict):
        return [f"not a mapping: {type(obj).__name__}"]
    if not isinstance(obj.get("apiVersion"), str) or not isinstance(obj.get("kind"), str):
        return [f"{_label(obj)}: apiVersion and kind must be strings"]
    if is_core_group(api_group(obj["apiVersion"])):
        return _core_errors(obj, kubernetes_version)
    return _custom_errors(obj, crd_schema_dir, kubernetes_version)


def validate_manifests(
    objs: Iterable[dict[str, Any]],
    crd_schema_dir: Path,
    kubernetes_version: str = KUBERNETES_VERSION,
) -> list[str]:
    """Validate many objects; return all their errors."""
    return [e for obj in objs for e in validate_manifest(obj, crd_schema_dir, kubernetes_version)]


def load_manifests(text: str) -> Iterator[dict[str, Any]]:
    """The non-empty YAML documents of a (multi-document) manifest text."""
    for document in yaml.safe_load_all(text):
        if document:
            yield document


def validate_file(
    path: Path, crd_schema_dir: Path, kubernetes_version: str = KUBERNETES_VERSION
) -> list[str]:
    """Validate every document of a YAML file; errors are prefixed with the file name."""
    objs = load_manifests(path.read_text())
    return [f"{path}: {e}" for e in validate_manifests(objs, crd_schema_dir, kubernetes_version)]

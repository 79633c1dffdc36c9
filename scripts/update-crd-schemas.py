#!/usr/bin/env python3
"""Regenerate ``schemas/crds/`` from the pinned upstream CustomResourceDefinitions.

For every source in ``schemas/crds/sources.yaml`` the script reads the listed CRD files at
the pinned commit (from GitHub, or from ``--from-dir DIR`` where the files already lie on
disk), takes the kinds the source names, and writes one JSON Schema per served version to
``<out>/<group>/<kind>_<version>.json`` (lower case), the layout that
``slipway.kube.manifests`` reads.

The conversion keeps the CRD's ``openAPIV3Schema`` as it is, with one strictness rule: every
object schema that declares ``properties`` and has neither ``additionalProperties`` nor
``x-kubernetes-preserve-unknown-fields: true`` gets ``additionalProperties: false``, so a
misspelt field is an error, as ``kubectl apply --validate=strict`` makes it. The rule
follows ``properties``, ``patternProperties``, ``items`` and ``additionalProperties``; the
schemas inside ``allOf``/``anyOf``/``oneOf``/``not`` only add constraints to their parent and
are left as they are. The top-level ``metadata`` stays an open object: the validator checks
it against the core ObjectMeta schema.

Usage (from the repository root):

    python scripts/update-crd-schemas.py                # fetch at the pinned refs, write
    python scripts/update-crd-schemas.py --check        # fetch, compare, write nothing
    python scripts/update-crd-schemas.py --from-dir DIR # convert CRD YAML files under DIR

Exit status: 0 done (or, with --check, up to date), 1 out of date (--check), 2 error.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "schemas" / "crds"
DEFAULT_SOURCES = DEFAULT_OUT / "sources.yaml"
RAW_URL = "https://raw.githubusercontent.com/{repository}/{ref}/{path}/{file}"
JSON_SCHEMA_DRAFT = "http://json-schema.org/draft-07/schema#"
_PINNED_REF = re.compile(r"^[0-9a-f]{40}$")


class CRDSchemaError(Exception):
    """A source table, a CRD file or a fetch that cannot be used; the message says why."""


class _CRDLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML as the API server reads it: ``=`` and date-like scalars stay strings."""


# PyYAML's YAML 1.1 resolver tags a bare ``=`` (an enum value in prometheus-operator's CRDs)
# as !!value and date-like scalars as timestamps; in a CRD both are plain strings.
for _tag in ("tag:yaml.org,2002:value", "tag:yaml.org,2002:timestamp"):
    _CRDLoader.add_constructor(_tag, yaml.constructor.SafeConstructor.construct_yaml_str)


def parse_yaml(text: str) -> list[Any]:
    """The documents of a YAML text, read with the safe loader above."""
    return list(yaml.load_all(text, Loader=_CRDLoader))


@dataclass(frozen=True)
class Source:
    group: str
    kinds: tuple[str, ...]
    repository: str
    ref: str
    path: str
    files: tuple[str, ...]

    def url(self, file: str) -> str:
        return RAW_URL.format(
            repository=self.repository, ref=self.ref, path=self.path.strip("/"), file=file
        )


def load_sources(path: Path) -> list[Source]:
    """The pinned source table; every entry needs all fields and a 40-hex commit as ref."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise CRDSchemaError(f"{path}: {exc}") from exc
    entries = data.get("sources") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise CRDSchemaError(f"{path}: expected a non-empty 'sources' list")
    fields = {"group", "kinds", "repository", "ref", "path", "files"}
    sources = []
    for i, entry in enumerate(entries):
        where = f"{path}: sources[{i}]"
        if not isinstance(entry, dict) or set(entry) != fields:
            got = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
            raise CRDSchemaError(f"{where}: needs exactly the fields {sorted(fields)}, got {got}")
        for key in ("kinds", "files"):
            value = entry[key]
            if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
                raise CRDSchemaError(f"{where}.{key}: expected a non-empty list of strings")
        if not isinstance(entry["ref"], str) or not _PINNED_REF.match(entry["ref"]):
            raise CRDSchemaError(f"{where}.ref: a full 40-hex commit, not {entry['ref']!r}")
        sources.append(
            Source(
                group=str(entry["group"]),
                kinds=tuple(entry["kinds"]),
                repository=str(entry["repository"]),
                ref=entry["ref"],
                path=str(entry["path"]),
                files=tuple(entry["files"]),
            )
        )
    return sources


# --------------------------------------------------------------------------- conversion


def close_objects(schema: Any) -> Any:
    """A copy of ``schema`` with the strictness rule applied at every level (see module doc)."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for key in ("properties", "patternProperties"):
        if isinstance(out.get(key), dict):
            out[key] = {name: close_objects(sub) for name, sub in out[key].items()}
    if isinstance(out.get("items"), dict):
        out["items"] = close_objects(out["items"])
    elif isinstance(out.get("items"), list):
        out["items"] = [close_objects(sub) for sub in out["items"]]
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = close_objects(out["additionalProperties"])
    if (
        "properties" in out
        and "additionalProperties" not in out
        and out.get("x-kubernetes-preserve-unknown-fields") is not True
    ):
        out["additionalProperties"] = False
    return out


def convert_version(crd: dict[str, Any], version: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of one version of a CRD."""
    name = crd["metadata"]["name"]
    openapi = (version.get("schema") or {}).get("openAPIV3Schema")
    if not isinstance(openapi, dict):
        raise CRDSchemaError(f"{name} {version.get('name')}: no openAPIV3Schema")
    schema: dict[str, Any] = close_objects(openapi)
    properties = schema.get("properties")
    if isinstance(properties, dict) and "metadata" in properties:
        properties["metadata"] = {"type": "object"}
    schema["$schema"] = JSON_SCHEMA_DRAFT
    schema["x-source"] = {
        "crd": name,
        "served": bool(version.get("served")),
        "storage": bool(version.get("storage")),
        "version": version["name"],
    }
    return schema


def convert_crd(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{version: schema}`` for every served version (one not served cannot be applied)."""
    return {
        version["name"]: convert_version(crd, version)
        for version in crd["spec"]["versions"]
        if version.get("served")
    }


def dump(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=1, sort_keys=True) + "\n"


def collect_crds(
    texts: Iterable[tuple[str, str]], skip_unparsable: bool = False
) -> dict[tuple[str, str], dict[str, Any]]:
    """CRDs by ``(group, kind)`` from ``(label, yaml text)`` pairs; other documents ignored.

    A text that is not YAML is an error, or with ``skip_unparsable`` a warning (a folder of
    upstream files may hold Helm templates beside the plain CRDs).
    """
    crds: dict[tuple[str, str], dict[str, Any]] = {}
    seen_in: dict[tuple[str, str], str] = {}
    for label, text in texts:
        try:
            documents = parse_yaml(text)
        except yaml.YAMLError as exc:
            if not skip_unparsable:
                raise CRDSchemaError(f"{label}: not YAML: {exc}") from exc
            print(f"warning: skipped {label}: not YAML", file=sys.stderr)
            continue
        for doc in documents:
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            try:
                key = (doc["spec"]["group"], doc["spec"]["names"]["kind"])
            except (KeyError, TypeError) as exc:
                raise CRDSchemaError(f"{label}: a CRD without spec.group/names.kind") from exc
            if key in crds and crds[key] != doc:
                raise CRDSchemaError(f"{label}: {key[1]}.{key[0]} also in {seen_in[key]}")
            crds[key] = doc
            seen_in[key] = label
    return crds


def render(sources: list[Source], crds: dict[tuple[str, str], dict[str, Any]]) -> dict[str, str]:
    """``{relative path: file text}`` for every kind the sources name."""
    files: dict[str, str] = {}
    missing = []
    for source in sources:
        for kind in source.kinds:
            crd = crds.get((source.group, kind))
            if crd is None:
                missing.append(f"{kind}.{source.group} ({source.repository} {source.path})")
                continue
            versions = convert_crd(crd)
            if not versions:
                raise CRDSchemaError(f"{kind}.{source.group}: no served version")
            for version, schema in versions.items():
                files[f"{source.group}/{kind.lower()}_{version}.json"] = dump(schema)
    if missing:
        raise CRDSchemaError("no CRD found for " + ", ".join(missing))
    return files


# --------------------------------------------------------------------------- input, output


def read_dir(directory: Path) -> list[tuple[str, str]]:
    """Every ``*.yaml``/``*.yml`` file under ``directory``, any layout."""
    if not directory.is_dir():
        raise CRDSchemaError(f"--from-dir {directory}: not a directory")
    paths = sorted(p for p in directory.rglob("*") if p.suffix in {".yaml", ".yml"})
    texts = []
    for path in paths:
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise CRDSchemaError(f"{path}: {exc}") from exc
        if "CustomResourceDefinition" in text:  # cheap filter: kustomization.yaml and the like
            texts.append((str(path), text))
    return texts


def fetch(sources: list[Source], timeout: float) -> list[tuple[str, str]]:
    """The listed files at their pinned refs."""
    import httpx

    texts = []
    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        for source in sources:
            for file in source.files:
                url = source.url(file)
                print(f"fetching {source.repository}@{source.ref[:8]} {source.path}/{file}")
                try:
                    response = client.get(url)
                    response.raise_for_status()
                except httpx.HTTPError as exc:
                    raise CRDSchemaError(f"{url}: {exc}") from exc
                texts.append((url, response.text))
    return texts


def existing(out: Path) -> dict[str, str]:
    return {
        path.relative_to(out).as_posix(): path.read_text() for path in sorted(out.glob("*/*.json"))
    }


def write(out: Path, files: dict[str, str]) -> None:
    """Write ``files`` under ``out`` and remove schema files no source produces any more."""
    for relative, text in files.items():
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or target.read_text() != text:
            target.write_text(text)
            print(f"wrote {target}")
    for relative in sorted(set(existing(out)) - set(files)):
        (out / relative).unlink()
        print(f"removed {out / relative}")
        if not any((out / relative).parent.iterdir()):
            (out / relative).parent.rmdir()


def differences(out: Path, files: dict[str, str]) -> list[str]:
    have = existing(out)
    return (
        [f"missing: {p}" for p in sorted(set(files) - set(have))]
        + [f"stale: {p}" for p in sorted(set(have) - set(files))]
        + [f"differs: {p}" for p in sorted(set(files) & set(have)) if files[p] != have[p]]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=Path, default=DEFAULT_SOURCES, help="source table")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="schema folder to write")
    parser.add_argument(
        "--from-dir", type=Path, help="convert the CRD YAML files under DIR instead of fetching"
    )
    parser.add_argument("--check", action="store_true", help="compare with --out, write nothing")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per fetch")
    args = parser.parse_args(argv)
    try:
        sources = load_sources(args.sources)
        if args.from_dir:
            crds = collect_crds(read_dir(args.from_dir), skip_unparsable=True)
        else:
            crds = collect_crds(fetch(sources, args.timeout))
        files = render(sources, crds)
    except CRDSchemaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        problems = differences(args.out, files)
        for problem in problems:
            print(problem)
        print(f"{args.out}: {'out of date' if problems else 'up to date'} ({len(files)} schemas)")
        return 1 if problems else 0
    write(args.out, files)
    print(f"{args.out}: {len(files)} schemas")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Set the digests of slipway's images in argocd/values/ (what images.yml's pull request runs).

    python scripts/bump_image_digests.py ghcr.io/slipway-ml/slipway-trainer=sha256:... ...

Every mapping in argocd/values/**/*.yaml that has ``repository: NAME`` and a ``digest`` key
gets the new digest (the charts use the digest instead of the tag when it is set). The files
are edited round-trip (ruamel.yaml), so comments and layout stay. Nothing is written unless
every argument is valid and every NAME is found at least once.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from slipway.errors import GitOpsError

ROOT = Path(__file__).resolve().parent.parent
VALUES = ROOT / "argocd" / "values"
IMAGES = (
    "ghcr.io/slipway-ml/slipway-trainer",
    "ghcr.io/slipway-ml/slipway-trainer-cuda",
    "ghcr.io/slipway-ml/slipway-predictor",
)
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")


def parse(assignments: Sequence[str]) -> dict[str, str]:
    """``NAME=DIGEST`` arguments, each checked, as {repository: digest}."""
    digests: dict[str, str] = {}
    for item in assignments:
        name, sep, digest = item.partition("=")
        if not sep:
            raise GitOpsError(f"{item!r}: expected NAME=sha256:<64 hex digits>")
        if name not in IMAGES:
            raise GitOpsError(f"{name!r} is not one of slipway's images {list(IMAGES)}")
        if not _DIGEST.match(digest):
            raise GitOpsError(f"{name}: {digest!r} is not a digest (sha256:<64 hex digits>)")
        if name in digests and digests[name] != digest:
            raise GitOpsError(f"{name} is given two digests")
        digests[name] = digest
    if not digests:
        raise GitOpsError("no NAME=DIGEST given")
    return digests


def image_blocks(node: Any) -> Iterator[dict[str, Any]]:
    """Every mapping with a ``repository`` and a ``digest`` key, at any depth."""
    if isinstance(node, dict):
        if "repository" in node and "digest" in node:
            yield node
        for value in node.values():
            yield from image_blocks(value)
    elif isinstance(node, list):
        for value in node:
            yield from image_blocks(value)


def bump(digests: dict[str, str], values_dir: Path = VALUES) -> list[Path]:
    """Rewrite the digests; returns the files that changed."""
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    found: set[str] = set()
    changed: dict[Path, str] = {}
    for path in sorted(values_dir.rglob("*.yaml")):
        data = yaml.load(path.read_text())
        touched = False
        for block in image_blocks(data):
            name = str(block["repository"])
            if name in digests:
                found.add(name)
                if block["digest"] != digests[name]:
                    block["digest"] = digests[name]
                    touched = True
        if touched:
            out = io.StringIO()
            yaml.dump(data, out)
            changed[path] = out.getvalue()
    missing = sorted(set(digests) - found)
    if missing:
        raise GitOpsError(f"no image block names {missing} in {values_dir}")
    # Only now, with every name found: write all or nothing.
    for path, text in changed.items():
        path.write_text(text)
    return sorted(changed)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("assignments", nargs="+", metavar="NAME=DIGEST")
    parser.add_argument("--values-dir", type=Path, default=VALUES)
    args = parser.parse_args(argv)
    try:
        changed = bump(parse(args.assignments), args.values_dir)
    except GitOpsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in changed:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

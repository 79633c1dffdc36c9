"""Step caching: a step whose inputs did not change is not run again; its outputs come
from the cache.

The key is a sha256 over what decides a step's result:

- the template: its image, command, args and script source, and the source code of the
  Python function it runs (so an edited step is a new key);
- the resolved input parameters, less those the user said to ignore;
- the content digest of the data it reads: every input that names a file (or, through the
  caller's ``Fingerprint``, an ``s3://`` object) is hashed by content, not by name;
- the configuration the step reads: the caller's ``Fingerprint`` digests the sections a
  template names in its ``slipway.io/cache-config`` annotation (all of it when it names
  none), with the step's environment applied;
- slipway's version.

A template annotated ``slipway.io/cache: never`` (register, canary, the exit handler:
steps whose side effects must happen each time) is never cached. Entries are JSON files,
``<folder>/<template>/<key>.json``, written atomically; ``evict`` removes a template's or
all of them.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import shutil
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from slipway import __version__
from slipway.errors import WorkflowError
from slipway.state_files import read_json, write_json
from slipway.workflow.executor.plan import TemplatePlan

NEVER = "never"


class Fingerprint(Protocol):
    """Digests of what a step reads, for its cache key."""

    def data(self, value: str) -> str | None:
        """The content digest of the data ``value`` names, or None when it names none."""
        ...

    def config(
        self, inputs: Mapping[str, str], env: Mapping[str, str], sections: list[str] | None
    ) -> str:
        """A digest of the configuration the step reads (``sections``; None: all of it)."""
        ...


class FileFingerprint:
    """Files hashed by content; the configuration is the step's environment (the template's
    variables and the ``SLIPWAY_*`` overrides of this process): what a generic step reads."""

    def data(self, value: str) -> str | None:
        path = Path(value)
        if not value or "\n" in value or len(value) > 4096:
            return None
        try:
            if not path.is_file():
                return None
        except OSError:
            return None
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return "sha256:" + digest.hexdigest()

    def config(
        self, inputs: Mapping[str, str], env: Mapping[str, str], sections: list[str] | None
    ) -> str:
        import os

        overrides = {k: v for k, v in os.environ.items() if k.startswith("SLIPWAY_")}
        return _digest({"env": dict(env), "overrides": overrides})


@dataclass(frozen=True)
class CacheEntry:
    key: str
    task: str
    outputs: dict[str, str]
    run: str  # the run that stored it
    stored_at: float


@dataclass
class StepCache:
    """``folder``: where entries live; ``ignore``: input names left out of every key;
    ``enabled``: False for ``--no-cache`` (nothing read, nothing written)."""

    folder: Path
    ignore: Collection[str] = ()
    enabled: bool = True
    fingerprint: Fingerprint = field(default_factory=FileFingerprint)

    def key(
        self, template: TemplatePlan, inputs: Mapping[str, str], env: Mapping[str, str]
    ) -> str | None:
        """The step's key, or None when it is never cached (or caching is off)."""
        if not self.enabled or template.cache == NEVER or template.function is None:
            return None
        kept = {k: v for k, v in inputs.items() if k not in self.ignore}
        spec = template.container
        parts: dict[str, Any] = {
            "template": template.name,
            "function": f"{template.function.__module__}:{template.function.__qualname__}",
            "code": _source(template.function),
            "container": None
            if spec is None
            else [spec.image, spec.command, spec.args, spec.source],
            "inputs": kept,
            "data": {k: self.fingerprint.data(v) for k, v in kept.items()},
            "config": self.fingerprint.config(kept, env, template.cache_config),
            "slipway": __version__,
        }
        return _digest(parts)

    def _path(self, template: str, key: str) -> Path:
        return self.folder / template / f"{key}.json"

    def get(self, template: str, key: str) -> CacheEntry | None:
        try:
            data = read_json(self._path(template, key), "a step-cache entry", "evict it")
        except ValueError as exc:
            raise WorkflowError(str(exc)) from exc
        if data is None:
            return None
        return CacheEntry(
            key, str(data["task"]), {str(k): str(v) for k, v in data["outputs"].items()},
            str(data["run"]), float(data["stored_at"]),
        )  # fmt: skip

    def put(self, template: str, key: str, task: str, outputs: Mapping[str, str], run: str) -> None:
        entry = {"task": task, "outputs": dict(outputs), "run": run, "stored_at": time.time()}
        write_json(self._path(template, key), entry)

    def evict(self, template: str | None = None) -> int:
        """Remove a template's entries (every entry when None); how many were removed."""
        folders = (
            [self.folder / template]
            if template
            else [p for p in self.folder.glob("*") if p.is_dir()]
        )
        removed = 0
        for folder in folders:
            if folder.is_dir():
                removed += len(list(folder.glob("*.json")))
                shutil.rmtree(folder)
        return removed


def _source(function: Any) -> str:
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):  # no source file (a built-in): its name must do
        return ""


def _digest(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

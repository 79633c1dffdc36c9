"""Past rollouts of a model, read back from the MLflow model version tags.

The tags are the durable record that works from any machine with MLflow access: the
rollout writes them on the candidate version as it goes (``MlflowTags`` in
slipway.rollout.model_registry, and ``HistoryTags`` below for when it started and which
champion it ran against). This module assembles them into ``RolloutEntry`` rows:

- ``entry_of`` / ``history_of``: pure, from a version's tags dict (tested on their own);
- ``read_history``: the MLflow I/O (one search of the model's versions);
- ``with_local``: the local state file's rollout, fresher than the tags while it runs.

A version the rollout never touched has no ``slipway.rollout.status`` tag and is no row.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from slipway.errors import RolloutError
from slipway.rollout.outcome import PROMOTED, RUNNING, RolloutOutcome
from slipway.rollout.progress import duration
from slipway.rollout.records import BaseRecorder

PREFIX = "slipway.rollout."
STATUS, REASON, FINISHED_AT = f"{PREFIX}status", f"{PREFIX}reason", f"{PREFIX}finished_at"
STARTED_AT = f"{PREFIX}started_at"
LOAD = f"{PREFIX}load"  # the load step's counts, JSON (sent, ok, errors, statuses)
CHAMPION_BEFORE, CHAMPION_AFTER = f"{PREFIX}champion_before", f"{PREFIX}champion_after"


class HistoryTags(BaseRecorder):
    """``slipway.rollout.started_at|champion_before|champion_after`` on the candidate
    version: what ``slipway rollout history`` needs beyond ``MlflowTags``. On failure
    (MLflow down): the history shows those fields as unknown; the rollout goes on."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def _tag(self, outcome: RolloutOutcome, key: str, value: str) -> None:
        self.client.set_model_version_tag(outcome.model, outcome.version, key, value)

    def started(self, outcome: RolloutOutcome, steps: list[int]) -> None:
        self._tag(outcome, STARTED_AT, f"{outcome.started_at:.3f}")
        self._tag(outcome, CHAMPION_BEFORE, outcome.champion_before)

    def finished(self, outcome: RolloutOutcome) -> None:
        self._tag(outcome, CHAMPION_AFTER, outcome.champion_after)


@dataclass
class StepEntry:
    number: int
    percent: int | None
    decision: str
    outcome: str
    measurements: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RolloutEntry:
    """One rollout of one version, as ``slipway rollout history`` shows it."""

    model: str
    version: str
    decision: str
    reason: str = ""
    champion_before: str | None = None
    champion_after: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    steps: list[StepEntry] = field(default_factory=list)
    load: dict[str, Any] | None = None  # what the load step sent, when one ran
    source: str = "mlflow"  # or "local state": where this row was read

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return round(self.finished_at - self.started_at, 3)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"duration_s": self.duration_s}


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None  # a hand-edited tag: shown unknown rather than fail the whole history


def _steps(tags: dict[str, str]) -> list[StepEntry]:
    steps = []
    for key, value in tags.items():
        number = key.removeprefix(f"{PREFIX}step.").removesuffix(".analysis")
        if not (key.endswith(".analysis") and number.isdigit()):
            continue
        try:
            record = json.loads(value)
        except ValueError:
            # Cut at the tag limit, or hand-edited: the step is known, its figures are not.
            record = {"decision": "unknown", "outcome": "unreadable"}
        steps.append(
            StepEntry(
                int(number), record.get("percent"), str(record.get("decision", "")),
                str(record.get("outcome", "")), list(record.get("measurements") or []),
            )
        )  # fmt: skip
    return sorted(steps, key=lambda s: s.number)


def entry_of(model: str, version: str, tags: dict[str, str]) -> RolloutEntry | None:
    """The rollout recorded in one version's tags; None for a version never rolled out."""
    decision = tags.get(STATUS)
    if decision is None:
        return None
    champion_after = tags.get(CHAMPION_AFTER) or None
    if champion_after is None and decision == PROMOTED:
        champion_after = version  # tags from before HistoryTags: a promotion says it
    return RolloutEntry(
        model=model,
        version=version,
        decision=decision,
        reason=tags.get(REASON, ""),
        champion_before=tags.get(CHAMPION_BEFORE) or None,
        champion_after=champion_after,
        started_at=_float(tags.get(STARTED_AT)),
        finished_at=_float(tags.get(FINISHED_AT)),
        steps=_steps(tags),
        load=_load(tags.get(LOAD)),
    )


def _load(value: str | None) -> dict[str, Any] | None:
    try:
        record = json.loads(value) if value else None
    except ValueError:
        return None  # cut or hand-edited: the counts are unknown, the rollout is not
    return record if isinstance(record, dict) else None


def _order(entry: RolloutEntry) -> tuple[float, int]:
    when = entry.started_at or entry.finished_at or 0.0
    return (when, int(entry.version) if entry.version.isdigit() else 0)


def history_of(
    model: str, versions: dict[str, dict[str, str]], limit: int | None = None
) -> list[RolloutEntry]:
    """Every recorded rollout among ``versions`` (version -> tags), newest first."""
    entries = [e for v, tags in versions.items() if (e := entry_of(model, v, tags)) is not None]
    entries.sort(key=_order, reverse=True)
    return entries[:limit] if limit is not None else entries


def entry_of_state(state: dict[str, Any]) -> RolloutEntry:
    """The rollout in the local state file (``StateFile``, ``slipway rollout status``)."""
    return RolloutEntry(
        model=str(state.get("model", "")),
        version=str(state.get("version", "")),
        decision=str(state.get("decision", RUNNING)),
        reason=str(state.get("reason", "")),
        champion_before=state.get("champion_before") or None,
        champion_after=state.get("champion_after") or None,
        started_at=state.get("started_at"),
        finished_at=state.get("finished_at"),
        steps=[
            StepEntry(
                n,
                s.get("percent"),
                s.get("decision", ""),
                s.get("outcome", ""),
                list(s.get("measurements") or []),
            )
            for n, s in enumerate(state.get("steps") or [], start=1)
        ],
        source="local state",
    )


def with_local(
    entries: list[RolloutEntry], state: dict[str, Any] | None, model: str
) -> list[RolloutEntry]:
    """``entries`` with the local state file's rollout in place of its tags' row: the
    state file has the champion, the times and every step as they are now. Another
    model's state, or none, changes nothing."""
    if not state or state.get("model") != model:
        return entries
    local = entry_of_state(state)
    rest = [e for e in entries if e.version != local.version]
    return sorted([local, *rest], key=_order, reverse=True)


def read_history(client: Any, model: str) -> dict[str, dict[str, str]]:
    """Every version of ``model`` with its tags (version -> tags), from MLflow."""
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(model)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise RolloutError(f"no registered model named {model!r} in MLflow") from exc
        raise RolloutError(f"MLflow could not be read for {model!r}: {exc.message}") from exc
    try:
        found = client.search_model_versions(f"name='{model}'")
    except MlflowException as exc:
        raise RolloutError(f"MLflow could not list the versions of {model!r}: {exc}") from exc
    return {str(mv.version): dict(mv.tags or {}) for mv in found}


def when(at: float | None) -> str:
    return "-" if at is None else time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(at))


def _duration(entry: RolloutEntry, now: float) -> str:
    if entry.duration_s is not None:
        return duration(entry.duration_s)
    if entry.started_at is not None and entry.decision == RUNNING:
        return f"{duration(now - entry.started_at)} so far"
    return "-"


def _champions(entry: RolloutEntry) -> str:
    return f"{entry.champion_before or '?'} -> {entry.champion_after or '?'}"


def steps_text(entry: RolloutEntry) -> str:
    """``10% pass, 50% fail``: each step's share and its last judgement's outcome."""
    return ", ".join(f"{_where(s)} {s.outcome or s.decision or '-'}" for s in entry.steps) or "-"


def _where(step: StepEntry) -> str:
    # The shadow phase is recorded as a step at 0% (no live traffic of its own).
    return "shadow" if step.percent == 0 else f"{step.percent}%"


COLUMNS = ("VERSION", "DECISION", "CHAMPION", "STARTED", "DURATION", "STEPS", "REASON")


def history_table(entries: list[RolloutEntry], now: float) -> str:
    """The rollouts as a table for a terminal, newest first; the reason last, uncut."""
    rows = [
        (e.version, e.decision, _champions(e), when(e.started_at), _duration(e, now),
         steps_text(e), e.reason)
        for e in entries
    ]  # fmt: skip
    widths = [max(len(r[i]) for r in [COLUMNS, *rows]) for i in range(len(COLUMNS) - 1)]
    lines = []
    for row in [COLUMNS, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def entry_detail(entry: RolloutEntry, now: float) -> str:
    """One rollout in full for a terminal: its fields, then a line per step with each
    metric's outcome, test, statistic and p-value."""
    lines = [
        f"rollout of {entry.model} version {entry.version}: {entry.decision}",
        f"  champion   {_champions(entry)}",
        f"  started    {when(entry.started_at)}",
        f"  ended      {when(entry.finished_at)}",
        f"  duration   {_duration(entry, now)}",
        f"  reason     {entry.reason or '-'}",
    ]
    if entry.load is not None:
        load = entry.load
        lines.append(f"  load       sent {load.get('sent')}, ok {load.get('ok')}, "
                     f"errors {load.get('errors')}")  # fmt: skip
    for step in entry.steps:
        lines.append(
            f"  step {step.number} ({_where(step)}): {step.outcome or '-'} ({step.decision})"
        )
        for m in step.measurements:
            dry = " (dry run)" if m.get("dry_run") else ""
            lines.append(
                f"    {m.get('metric')}: {m.get('outcome')}{dry}  {m.get('test') or '-'}"
                f"  statistic {m.get('statistic')}  p {m.get('p_value')}"
                f"  samples {m.get('canary_samples')}/{m.get('baseline_samples')}"
            )
    return "\n".join(lines)

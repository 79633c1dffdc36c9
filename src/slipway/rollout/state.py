"""The rollout's durable state, and what a restarted controller does with it.

A rollout writes its state ahead of every change it makes (before the canary is deployed,
before each traffic step, before and after each promotion stage), to a place that outlives
its process: an annotation on the InferenceService (KServe backend) or a file in the state
folder (local backend, written atomically with slipway.state_files). A controller that is
killed, evicted or OOM-killed leaves a state that is not terminal, and the next controller
(``slipway rollout start`` again, ``slipway rollout recover``, the workflow's exit handler)
acts on it:

- phase ``running`` (the canary holds a share, its analysis not finished): **roll back**.
  The analysis of a step is judged over a whole window against the baseline of the steps
  before it, which lived in the dead process's memory; resuming would promote on a window
  nobody watched whole. Rolling back costs one rerun and never promotes on partial data.
- phase ``promoting`` (analysis passed): the stages still to do, in order backend, alias,
  git. A promotion whose backend stage did not happen is rolled back (nothing else moved);
  once the backend serves the new version, the rest is **resumed** (both stages are
  idempotent), so the served version, the ``champion`` alias and git meet again.

``recovery_plan`` is that decision, pure; ``slipway.rollout.service`` carries it out.
"""

from __future__ import annotations

import enum
import json
import socket
import time
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, Field, ValidationError

from slipway.errors import RolloutError
from slipway.registry.model_version import ModelVersion
from slipway.state_files import locked, read_json, write_json

Phase = Literal["running", "promoting", "promoted", "rolled_back", "aborted"]
TERMINAL: tuple[str, ...] = ("promoted", "rolled_back", "aborted")
# The promotion's stages, in the order they run.
STAGES: tuple[str, ...] = ("backend", "alias", "git")
STATE_FILE = "rollout-state.json"


class Owner(BaseModel):
    host: str
    pid: int


def this_process() -> Owner:
    import os

    return Owner(host=socket.gethostname(), pid=os.getpid())


class ServedModel(BaseModel):
    """A version as the state keeps it: enough to resume a promotion without MLflow."""

    name: str
    version: str
    run_id: str = ""
    storage_uri: str = ""
    network: str = "mlp"

    @classmethod
    def of(cls, model: ModelVersion) -> ServedModel:
        return cls(
            name=model.name,
            version=model.version,
            run_id=model.run_id,
            storage_uri=model.storage_uri,
            network=model.network,
        )

    def model_version(self) -> ModelVersion:
        return ModelVersion(
            self.name, self.version, self.run_id, self.storage_uri, network=self.network
        )


class RolloutState(BaseModel):
    model: str
    version: str
    champion: str
    canary: ServedModel
    phase: Phase = "running"
    step: int = Field(0, ge=0, description="Index into the steps of the step in progress.")
    traffic: int = Field(0, ge=0, le=100, description="The canary's share, as last set.")
    started_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
    steps: list[dict[str, object]] = Field(default_factory=list)
    done: list[str] = Field(default_factory=list, description="Promotion stages done.")
    reason: str = ""
    owner: Owner = Field(default_factory=this_process)

    @property
    def finished(self) -> bool:
        return self.phase in TERMINAL

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str, where: str) -> RolloutState:
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            raise RolloutError(f"unreadable rollout state in {where}: {exc}") from exc


class StateStore(Protocol):
    """Where one model's rollout state lives; ``save`` replaces it whole."""

    @property
    def where(self) -> str:
        """Where the state is, in words (for messages)."""

    def load(self) -> RolloutState | None: ...

    def save(self, state: RolloutState) -> None: ...


class FileStateStore:
    """The local backend's store: a JSON file in the state folder, written atomically
    (a crash mid-write leaves the old state) under a lock (two commands never interleave)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def where(self) -> str:
        return str(self.path)

    def load(self) -> RolloutState | None:
        try:
            data = read_json(self.path, "rollout state", "remove it after checking the router")
        except ValueError as exc:
            raise RolloutError(str(exc)) from exc
        if data is None:
            return None
        return RolloutState.from_json(json.dumps(data), str(self.path))

    def save(self, state: RolloutState) -> None:
        state.updated_at = time.time()
        with locked(self.path):
            write_json(self.path, state.model_dump(mode="json"))


class Action(enum.Enum):
    NOTHING = "nothing"  # no rollout, or it finished
    RUNNING_ELSEWHERE = "running_elsewhere"  # its controller still runs on this host
    ROLL_BACK = "roll_back"
    RESUME = "resume"  # finish the promotion's remaining stages


def recovery_plan(state: RolloutState | None, owner_alive: bool) -> tuple[Action, list[str]]:
    """What to do with ``state``, and the promotion stages still to do when resuming.

    ``owner_alive``: whether the process that wrote it still runs (known only on its own
    host; a pod's controller that is gone is never alive)."""
    if state is None or state.finished:
        return Action.NOTHING, []
    if owner_alive:
        return Action.RUNNING_ELSEWHERE, []
    remaining = [s for s in STAGES if s not in state.done]
    if state.phase == "running" or "backend" in remaining:
        return Action.ROLL_BACK, []
    return Action.RESUME, remaining

"""What a rollout needs from a serving platform: one interface, two implementations.

- ``KServeBackend`` (kserve_backend.py): an InferenceService in Knative mode; traffic by
  ``canaryTrafficPercent``, the model by ``storageUri``.
- ``LocalBackend`` (local_backend.py): KServe ModelServer processes behind slipway's
  weighted router on loopback.

The controller calls these in order: ``deploy_canary``, ``set_canary_traffic`` per step,
then ``promote`` or ``rollback``; ``record_decision`` after each decision.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class ModelTarget:
    """One model version as a serving platform sees it."""

    name: str
    version: str
    run_id: str
    storage_uri: str
    model_dir: Path | None = None  # a local copy (the local backend serves from it)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["model_dir"] = str(self.model_dir) if self.model_dir else None
        return out


class Backend(Protocol):
    def deploy_canary(self, canary: ModelTarget, champion: ModelTarget, percent: int) -> None:
        """Serve ``canary`` beside ``champion`` with ``percent`` of the traffic; wait ready."""

    def set_canary_traffic(self, percent: int) -> None:
        """Give the canary ``percent`` of the traffic; return once it is in effect."""

    def traffic(self) -> dict[str, int]:
        """Current split, by version."""

    def promote(self) -> None:
        """The canary takes all traffic and becomes the served model."""

    def rollback(self) -> None:
        """Canary traffic to 0 at once, then the champion restored as the served model."""

    def record_decision(self, record: dict[str, Any]) -> None:
        """Leave the decision where the platform's operators look."""

    def abort_requested(self) -> bool:
        """Whether someone asked (``slipway rollout abort``) to stop this rollout."""

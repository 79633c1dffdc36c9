"""What the rollout controller works through, as Protocols (after Argo Rollouts' split).

- ``TrafficRouter``: moves traffic between champion and canary (traffic routing);
- ``MetricSource``: the figures the analysis judges (metric provider);
- ``AbortSignal``: whether someone asked the rollout to stop;
- ``Recorder``: one place a rollout leaves its record (MLflow tags, the state file, the
  event log, the backend's decision record, the GitOps record);
- ``ChampionRegistry``: where the ``champion`` alias moves on promotion;
- ``ShadowRouter``, ``ShadowMetrics``: the shadow phase (a router that mirrors a share of
  the champion's requests to a challenger serving no live traffic, and the agreement
  counts); only a rollout with ``rollout.shadow.percent`` above 0 needs them.

The judgement itself (slipway.rollout.analysis) is pure and needs no port.

``RolloutBackend`` is what a serving platform gives a rollout: a traffic router, its abort
signal, its decision record and a rollback from the platform's own records. Its two
implementations live in slipway.rollout.backends (``local``, ``kserve``); the composition
root (``slipway.runtime.Runtime.rollout_backend``) is the one place that picks one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from slipway.config.rollout import ShadowSettings
    from slipway.registry.model_version import ModelVersion
    from slipway.rollout.analysis import Snapshot
    from slipway.rollout.outcome import RolloutOutcome, StepRecord
    from slipway.rollout.shadow_analysis import ShadowStats
    from slipway.rollout.state import StateStore


class TrafficRouter(Protocol):
    """The controller calls these in order: ``deploy_canary``, ``set_canary_traffic`` per
    step, then ``promote`` or ``rollback``."""

    def deploy_canary(self, canary: ModelVersion, champion: ModelVersion, percent: int) -> None:
        """Serve ``canary`` beside ``champion`` with ``percent`` of the traffic; wait ready."""

    def set_canary_traffic(self, percent: int) -> None:
        """Give the canary ``percent`` of the traffic; return once it is in effect."""

    def traffic(self) -> dict[str, int]:
        """Current split, by version (or revision)."""

    def promote(self) -> None:
        """The canary takes all traffic and becomes the served model."""

    def rollback(self) -> None:
        """Canary traffic to 0 at once, then the champion restored as the served model."""


@runtime_checkable
class ShadowRouter(Protocol):
    """The shadow phase's traffic: ``start_shadow``, then ``stop_shadow``, then the steps
    (``deploy_canary`` reuses the server) or ``rollback`` (which also stops mirroring)."""

    def start_shadow(
        self, canary: ModelVersion, champion: ModelVersion, settings: ShadowSettings
    ) -> None:
        """Serve ``canary`` beside ``champion`` with no live traffic, and mirror
        ``settings.percent`` of the live requests to it; return once mirroring is on."""

    def stop_shadow(self) -> None:
        """Stop mirroring (the canary's server stays, for the steps or the rollback)."""


@runtime_checkable
class ShadowMetrics(Protocol):
    def shadow_stats(self, model: str, version: str, window_seconds: float) -> ShadowStats:
        """The requests mirrored to ``version`` over the last ``window_seconds``."""


class MetricSource(Protocol):
    def snapshot(
        self, model: str, canary_version: str, champion_version: str, window_seconds: float
    ) -> Snapshot:
        """Canary and champion figures over the last ``window_seconds``."""

    def wait_for_series(self, model: str, version: str, timeout: float) -> bool:
        """Until the version's series exist (it is scraped); False after ``timeout``."""


class AbortSignal(Protocol):
    def requested(self) -> bool:
        """Whether someone asked (``slipway rollout abort``) to stop the rollout."""

    def request(self) -> None:
        """Ask the running rollout to stop (it rolls back)."""

    def clear(self) -> None:
        """Forget an earlier request (before a new rollout starts)."""


class ChampionRegistry(Protocol):
    def promote(self, model: ModelVersion, reason: str) -> None:
        """Move the ``champion`` alias to ``model``."""


class Recorder(Protocol):
    """One record of a rollout. The controller calls every recorder at each point below;
    a recorder that fails is logged and skipped (``slipway.rollout.records.Recorders``),
    so no record ever stops a rollback."""

    def started(self, outcome: RolloutOutcome, steps: list[int]) -> None:
        """The rollout began (nothing deployed yet)."""

    def progressed(self, outcome: RolloutOutcome) -> None:
        """Something in ``outcome`` changed (a step began, fresher figures)."""

    def step_judged(self, outcome: RolloutOutcome, step: StepRecord) -> None:
        """A decision was taken on ``step`` (its decision, reason and figures are set)."""

    def step_passed(self, outcome: RolloutOutcome, number: int, step: StepRecord) -> None:
        """Step ``number`` (from 1) passed its analysis."""

    def promoted(self, outcome: RolloutOutcome, canary: ModelVersion) -> None:
        """The canary was promoted (traffic and alias moved); before ``finished``."""

    def finished(self, outcome: RolloutOutcome) -> None:
        """The rollout ended: ``outcome.decision`` is promoted, rolled_back or aborted."""


class RolloutBackend(TrafficRouter, Protocol):
    """A serving platform, whole: what ``slipway rollout start|status|abort`` need."""

    @property
    def abort(self) -> AbortSignal:
        """This platform's abort signal."""

    @property
    def state(self) -> StateStore:
        """Where this platform keeps the rollout's durable state (slipway.rollout.state)."""

    def serves_only(self, version: str) -> bool:
        """Whether ``version`` alone serves, no canary beside it (a promotion went through)."""

    def model_cache_dir(self) -> Path | None:
        """Where registry versions are downloaded before this platform serves them; None
        when the platform fetches the storage URI itself."""

    def ensure_serving(self, champion: ModelVersion) -> str | None:
        """The champion served (started when missing); the address clients call, when
        this platform gives one (synthetic traffic is sent there)."""

    def record_decision(self, record: dict[str, Any]) -> None:
        """Leave the decision where the platform's operators look."""

    def roll_back_from_records(self) -> str:
        """Roll back without the controller's in-memory state (``rollout abort`` when no
        controller answers), from what the platform itself records; says what it did."""

    def close(self) -> None:
        """Release connections."""

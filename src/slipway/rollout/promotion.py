"""Promotion in three stages, in this order: backend, alias, git.

- ``backend``: the platform serves the canary alone (``TrafficRouter.promote``);
- ``alias``: MLflow's ``champion`` alias moves to it (``ChampionRegistry.promote``);
- ``git``: the serving version is written to git (``PromotionRecord.record``), so that
  Argo CD's desired state meets the live one.

Each stage is retried with exponential backoff (tenacity) on errors that may pass (a
connection refused, a 5xx, an API server that did not answer); an error that will not pass
(a missing token, a values file without the model) is not retried. After each stage the
durable state (slipway.rollout.state) records it done, so a controller that dies between
stages leaves a promotion that the next one resumes from the stage it had reached.

When a stage still fails, the controller keeps the end state consistent: a failed backend
stage is compensated (rolled back: nothing else moved yet); a failed alias or git stage is
left to resume (both are idempotent: moving an alias to where it points, writing a values
file that already says so, finding the open pull request) and the command fails with
``PromotionIncomplete``, naming the stage and ``slipway rollout recover``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from tenacity import (
    Retrying,
    before_sleep_log,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from slipway.config import RolloutSettings
from slipway.errors import ConfigError, GitOpsError, RolloutError
from slipway.registry.model_version import ModelVersion
from slipway.rollout.ports import ChampionRegistry, TrafficRouter
from slipway.rollout.state import RolloutState, StateStore

log = logging.getLogger(__name__)
T = TypeVar("T")


class PromotionRecord(Protocol):
    def record(self, model: ModelVersion, reason: str) -> dict[str, str] | None:
        """Write the promoted version where the desired state lives; what was written
        (None: recording is off). Raises on failure: a promotion is not done without it."""


class PromotionFailed(RolloutError):
    """The backend could not promote; the canary was rolled back, nothing else moved."""


class PromotionIncomplete(RolloutError):
    """The new version serves but a later stage (alias, git) failed after its retries; the
    durable state says which, and ``slipway rollout recover`` finishes it."""

    def __init__(self, model: str, stage: str, cause: BaseException) -> None:
        super().__init__(
            f"{model}: promotion incomplete at the {stage} stage ({type(cause).__name__}: "
            f"{cause}); the new version serves; finish with `slipway rollout recover "
            f"--model {model}` once the cause is fixed"
        )
        self.stage = stage


class StageFailed(Exception):
    def __init__(self, stage: str, cause: BaseException) -> None:
        super().__init__(f"{stage}: {cause}")
        self.stage, self.cause = stage, cause


def is_transient(exc: BaseException) -> bool:
    """Whether retrying may help: not for errors that name a fix (settings, the values
    file, a missing token), unless they say the service failed (GitOpsError's
    ``transient``); yes for the rest (connections, API servers, MLflow answering 5xx)."""
    if isinstance(exc, GitOpsError):
        return bool(getattr(exc, "transient", False))
    # Never an interrupt (SIGTERM's Terminated, Ctrl-C): the process is asked to go.
    return isinstance(exc, Exception) and not isinstance(exc, ConfigError)


Retry = Callable[[Callable[[], T]], T]


def retrying(settings: RolloutSettings, sleep: Callable[[float], None] | None = None) -> Retry[T]:
    """Call a function with the settings' attempts and backoff on transient errors."""

    def call(fn: Callable[[], T]) -> T:
        retryer = Retrying(
            stop=stop_after_attempt(settings.promotion_attempts),
            wait=wait_exponential(
                multiplier=settings.promotion_backoff_seconds,
                max=settings.promotion_backoff_max_seconds,
            ),
            retry=retry_if_exception(is_transient),
            before_sleep=before_sleep_log(log, logging.WARNING),
            reraise=True,
            sleep=sleep if sleep is not None else time.sleep,
        )
        return retryer(fn)

    return call


def run_stages(
    stages: Sequence[str],
    canary: ModelVersion,
    reason: str,
    state: RolloutState | None,
    store: StateStore | None,
    router: TrafficRouter | None,
    registry: ChampionRegistry,
    git: PromotionRecord | None,
    retry: Retry[object],
) -> dict[str, str] | None:
    """Run ``stages`` in order, recording each done; the git record, if one was written.
    Raises ``StageFailed`` naming the first stage that failed after its retries."""
    gitops: dict[str, str] | None = None
    for stage in stages:
        try:
            if stage == "backend":
                if router is None:
                    raise RolloutError("the backend stage needs the controller's router")
                retry(router.promote)
            elif stage == "alias":
                retry(lambda: registry.promote(canary, reason))
            elif stage == "git":
                if git is not None:
                    written = retry(lambda: git.record(canary, reason))
                    gitops = written if isinstance(written, dict) else None
            else:
                raise RolloutError(f"unknown promotion stage {stage!r}")
        except Exception as exc:
            raise StageFailed(stage, exc) from exc
        if state is not None and store is not None:
            state.done.append(stage)
            store.save(state)
    return gitops

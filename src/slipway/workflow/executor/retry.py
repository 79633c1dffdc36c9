"""Argo's ``retryStrategy`` for a template: when a failed attempt is tried again, and after
how long.

Supported, with Argo's meaning: ``limit`` (retries after the first attempt), ``retryPolicy``
``Always``, ``OnFailure``, ``OnError`` and ``OnTransientError``, ``backoff`` (``duration``,
``factor``, ``cap``, ``maxDuration``), and an ``expression`` of the one form slipway's
workflows use, ``asInt(lastRetry.exitCode) == N`` (or ``!=``), over the attempt's exit code.

A step here fails with an exception: its exit code is a ``SystemExit``'s code (how a step
says "transient", see ``slipway.workflow.transient``), else 1, what Python's exit would be in
the pod. Locally every failure is the step's own (there is no pod to lose), so ``OnError``
never retries, and ``OnTransientError`` retries only an exit code that marks a transient
error, as Argo retries only errors it knows to be transient.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hera.workflows import models as m

from slipway.errors import WorkflowError
from slipway.workflow.executor.refusals import reject_unknown

TRANSIENT_EXIT_CODE = 75  # EX_TEMPFAIL (sysexits.h): "try again later"
_POLICIES = {"Always", "OnFailure", "OnError", "OnTransientError"}
_EXPRESSION = re.compile(r"\s*asInt\(\s*lastRetry\.exitCode\s*\)\s*(==|!=)\s*(\d+)\s*")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)?")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


@dataclass(frozen=True)
class RetryPlan:
    limit: int
    policy: str = "OnFailure"
    duration: float = 0.0  # seconds before the first retry
    factor: float = 1.0
    cap: float | None = None
    max_duration: float | None = None  # no retry starts later than this after the first try
    exit_code: tuple[str, int] | None = None  # the expression: (operator, code)

    def retries(self, attempt: int, exit_code: int, elapsed: float) -> bool:
        """Whether attempt number ``attempt`` (0: the first), which ended with
        ``exit_code`` ``elapsed`` seconds after the first started, is tried again."""
        if attempt >= self.limit:
            return False
        if self.max_duration is not None and elapsed + self.delay(attempt) > self.max_duration:
            return False
        if self.policy == "OnError":
            return False
        if self.policy == "OnTransientError" and exit_code != TRANSIENT_EXIT_CODE:
            return False
        if self.exit_code is not None:
            operator, code = self.exit_code
            return (exit_code == code) == (operator == "==")
        return True

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry ``attempt + 1``: duration * factor**attempt, capped."""
        seconds = self.duration * self.factor**attempt
        return min(seconds, self.cap) if self.cap is not None else seconds


def seconds(text: str, where: str) -> float:
    """An Argo duration (``10``, ``10s``, ``2m``, ``500ms``) in seconds."""
    match = _DURATION.fullmatch(str(text).strip())
    if match is None:
        raise WorkflowError(f"{where}: duration {text!r} (e.g. 10, 10s, 2m)")
    return float(match[1]) * _SECONDS[match[2]]


def compile_retry(strategy: m.RetryStrategy | None, where: str) -> RetryPlan | None:
    if strategy is None:
        return None
    here = f"{where} retryStrategy"
    reject_unknown(strategy, {"limit", "retryPolicy", "backoff", "expression"}, here)
    limit = strategy.limit.root if strategy.limit is not None else None
    try:
        count = int(limit) if limit is not None else 0
    except ValueError:
        raise WorkflowError(f"{here}: limit {limit!r} is not a number") from None
    policy = strategy.retry_policy or ("Always" if strategy.expression is None else "OnFailure")
    if policy not in _POLICIES:
        raise WorkflowError(f"{here}: retryPolicy {policy!r} (one of {sorted(_POLICIES)})")
    exit_code = None
    if strategy.expression is not None:
        match = _EXPRESSION.fullmatch(strategy.expression)
        if match is None:
            raise WorkflowError(
                f"{here}: expression {strategy.expression!r} "
                "(only asInt(lastRetry.exitCode) == N or != N)"
            )
        exit_code = (match[1], int(match[2]))
    backoff = strategy.backoff
    if backoff is None:
        return RetryPlan(count, policy, exit_code=exit_code)
    reject_unknown(backoff, {"duration", "factor", "cap", "maxDuration"}, f"{here} backoff")
    factor = backoff.factor.root if backoff.factor is not None else 1
    try:
        multiplier = float(factor)
    except ValueError:
        raise WorkflowError(f"{here} backoff: factor {factor!r} is not a number") from None
    return RetryPlan(
        count,
        policy,
        seconds(backoff.duration, here) if backoff.duration else 0.0,
        multiplier,
        seconds(backoff.cap, here) if backoff.cap else None,
        seconds(backoff.max_duration, here) if backoff.max_duration else None,
        exit_code,
    )

"""The rollout's decision rules against a table of metric scenarios (no I/O)."""

from __future__ import annotations

import math

import pytest

from slipway.rollout.analysis import Action, Snapshot, Stats, Thresholds, find_breach, judge_window

T = Thresholds(
    min_requests=50,
    max_error_rate_increase=0.01,
    max_p99_ratio=1.5,
    p99_ratio_floor_ms=10.0,
    max_p99_ms=500.0,
    max_extensions=2,
)
NAN = math.nan


def s(requests: float, errors: float = 0, p99: float = 5.0) -> Stats:
    return Stats(requests, errors, p99)


HEALTHY = s(1000, 2, 8.0)

# (name, canary, champion, previous baseline, extensions so far, expected action, reason has)
SCENARIOS = [
    ("healthy canary passes", s(100, 0, 6.0), HEALTHY, None, 0, Action.PROMOTE, "within"),
    ("equal error rates pass", s(1000, 2, 8.0), HEALTHY, None, 0, Action.PROMOTE, "within"),
    ("error rate 1 point above passes", s(1000, 12, 8.0), HEALTHY, None, 0, Action.PROMOTE, ""),
    (
        "error rate 2 points above fails",
        s(1000, 22, 8.0),
        HEALTHY,
        None,
        0,
        Action.ROLLBACK,
        "error rate",
    ),
    ("all canary requests fail", s(100, 100, 1.0), HEALTHY, None, 0, Action.ROLLBACK, "100.00%"),
    ("too few requests: extend", s(10, 0, 5.0), HEALTHY, None, 0, Action.EXTEND, "extended"),
    (
        "too few, no data at all: extend",
        s(NAN, NAN, NAN),
        HEALTHY,
        None,
        1,
        Action.EXTEND,
        "2 of 2",
    ),
    (
        "too few after the extensions: roll back",
        s(10, 0, 5.0),
        HEALTHY,
        None,
        2,
        Action.ROLLBACK,
        "cannot judge",
    ),
    (
        "too few requests, even with errors: extend",
        s(49, 49, 5.0),
        HEALTHY,
        None,
        0,
        Action.EXTEND,
        "",
    ),
    (
        "p99 ratio above the limit",
        s(200, 0, 40.0),
        s(1000, 0, 20.0),
        None,
        0,
        Action.ROLLBACK,
        "2.00x",
    ),
    (
        "p99 ratio at the limit passes",
        s(200, 0, 30.0),
        s(1000, 0, 20.0),
        None,
        0,
        Action.PROMOTE,
        "",
    ),
    (
        "sub-floor latencies are not divided",
        s(200, 0, 9.0),
        s(1000, 0, 0.5),
        None,
        0,
        Action.PROMOTE,
        "",
    ),
    (
        "just over the floor is compared to the floor",
        s(200, 0, 16.0),
        s(1000, 0, 0.5),
        None,
        0,
        Action.ROLLBACK,
        "x the baseline",
    ),
    (
        "absolute p99 bound",
        s(200, 0, 600.0),
        s(1000, 0, 590.0),
        None,
        0,
        Action.ROLLBACK,
        "above the bound",
    ),
    (
        "champion without traffic: previous baseline used",
        s(200, 10, 8.0),
        s(0, 0, NAN),
        s(900, 0, 8.0),
        0,
        Action.ROLLBACK,
        "baseline's 0.00%",
    ),
    (
        "champion without traffic, previous baseline passes",
        s(200, 0, 8.0),
        s(0, 0, NAN),
        s(900, 0, 8.0),
        0,
        Action.PROMOTE,
        "",
    ),
    (
        "no baseline at all: canary's own error rate",
        s(200, 4, 8.0),
        s(0, 0, NAN),
        None,
        0,
        Action.ROLLBACK,
        "error rate",
    ),
    (
        "no baseline at all, clean canary passes",
        s(200, 0, 8.0),
        s(3, 0, NAN),
        None,
        0,
        Action.PROMOTE,
        "",
    ),
    (
        "champion with few requests is not the baseline",
        s(200, 1, 8.0),
        s(10, 5, 900.0),
        s(1000, 0, 8.0),
        0,
        Action.PROMOTE,
        "",
    ),
    ("canary p99 unknown: ratio skipped", s(200, 0, NAN), HEALTHY, None, 0, Action.PROMOTE, ""),
    (
        "several breaches are all named",
        s(200, 100, 700.0),
        HEALTHY,
        None,
        0,
        Action.ROLLBACK,
        "above the bound",
    ),
]


@pytest.mark.parametrize(
    ("canary", "champion", "previous", "extensions", "expected", "reason"),
    [pytest.param(*row[1:], id=row[0]) for row in SCENARIOS],
)
def test_end_of_window_decision(
    canary: Stats,
    champion: Stats,
    previous: Stats | None,
    extensions: int,
    expected: Action,
    reason: str,
) -> None:
    decision = judge_window(Snapshot(canary, champion), previous, extensions, T)
    assert decision.action is expected, decision.reason
    assert reason in decision.reason


def test_several_breaches_are_listed() -> None:
    decision = judge_window(Snapshot(s(200, 100, 700.0), HEALTHY), None, 0, T)
    assert len(decision.breaches) == 3


@pytest.mark.parametrize(
    ("canary", "expected"),
    [
        (s(10, 10, 900.0), Action.CONTINUE),  # a breach, but over too few requests to trust
        (s(60, 30, 5.0), Action.ROLLBACK),
        (s(60, 0, 5.0), Action.CONTINUE),  # never promotes before the window ends
        (s(60, 0, 800.0), Action.ROLLBACK),
    ],
)
def test_mid_window_check_only_rolls_back(canary: Stats, expected: Action) -> None:
    assert find_breach(Snapshot(canary, HEALTHY), None, T).action is expected


def test_baseline_is_carried_forward() -> None:
    first = judge_window(Snapshot(s(100), HEALTHY), None, 0, T)
    assert first.baseline == HEALTHY
    later = judge_window(Snapshot(s(100), s(0, 0, NAN)), first.baseline, 0, T)
    assert later.baseline == HEALTHY
    assert later.to_dict()["action"] == "promote"

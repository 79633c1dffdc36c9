"""The rollout's decision rules against a table of metric scenarios (no I/O).

Every outcome is here: pass, each kind of fail (error rate, p99 ratio, p99 bound, scores),
each kind of inconclusive (too few requests, no data, a NaN p99, too few scores), the
inconclusive limit, the minimum sample of a breach and the per-metric dry run.
"""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from slipway.rollout.analysis import (
    Action,
    Outcome,
    Snapshot,
    Stats,
    Thresholds,
    find_breach,
    judge_window,
)
from slipway.rollout.shadow_analysis import (
    ShadowStats,
    ShadowThresholds,
    judge_shadow,
    shadow_breach,
)

T = Thresholds(
    min_requests=50,
    max_error_rate_increase=0.01,
    max_p99_ratio=1.5,
    p99_ratio_floor_ms=10.0,
    max_p99_ms=500.0,
    max_extensions=2,
    confidence=0.95,
    max_score_psi=0.25,
    min_score_samples=50,
)
NAN = math.nan
# Score histograms over ten buckets: the champion's, a near copy, and a shifted one.
CHAMPION_SCORES = (5.0, 10, 20, 40, 80, 80, 40, 20, 10, 5)
SIMILAR_SCORES = (6.0, 9, 21, 41, 78, 79, 42, 19, 10, 5)
SHIFTED_SCORES = (80.0, 80, 40, 20, 10, 5, 5, 5, 5, 0)


def s(
    requests: float, errors: float = 0, p99: float = 5.0, scores: tuple[float, ...] = ()
) -> Stats:
    return Stats(requests, errors, p99, scores)


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
        "Fisher p=",
    ),
    ("all canary requests fail", s(100, 100, 1.0), HEALTHY, None, 0, Action.ROLLBACK, "100.00%"),
    # 3 errors in 60 is 5%, but not shown higher than 0.2% of the champion's at 95%? It is
    # (p ~ 0.005); 1 in 60 is not: a single error in a small window does not roll back.
    (
        "one error in a small window is not significant",
        s(60, 1, 8.0),
        HEALTHY,
        None,
        0,
        Action.PROMOTE,
        "",
    ),
    ("too few requests: extend", s(10, 0, 5.0), HEALTHY, None, 0, Action.EXTEND, "extended"),
    (
        "no data at all (Prometheus gap): extend",
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
        "a breach needs the minimum sample: extend",
        s(49, 49, 900.0),
        HEALTHY,
        None,
        0,
        Action.EXTEND,
        "49 canary requests",
    ),
    (
        "canary p99 NaN: inconclusive",
        s(200, 0, NAN),
        HEALTHY,
        None,
        0,
        Action.EXTEND,
        "latency: no canary latency data",
    ),
    (
        "canary p99 NaN at the limit: roll back",
        s(200, 0, NAN),
        HEALTHY,
        None,
        2,
        Action.ROLLBACK,
        "inconclusive after 2",
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
        s(200, 10, 8.0),
        s(0, 0, NAN),
        None,
        0,
        Action.ROLLBACK,
        "no baseline (binomial",
    ),
    (
        "no baseline, an error rate not shown above the bound passes",
        s(200, 4, 8.0),
        s(0, 0, NAN),
        None,
        0,
        Action.PROMOTE,
        "",
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
    (
        "several breaches are all named",
        s(200, 100, 700.0),
        HEALTHY,
        None,
        0,
        Action.ROLLBACK,
        "above the bound",
    ),
    (
        "similar scores pass",
        s(300, 0, 8.0, SIMILAR_SCORES),
        s(1000, 0, 8.0, CHAMPION_SCORES),
        None,
        0,
        Action.PROMOTE,
        "",
    ),
    (
        "shifted scores fail",
        s(300, 0, 8.0, SHIFTED_SCORES),
        s(1000, 0, 8.0, CHAMPION_SCORES),
        None,
        0,
        Action.ROLLBACK,
        "PSI",
    ),
    (
        "shifted scores against the previous baseline fail",
        s(300, 0, 8.0, SHIFTED_SCORES),
        s(0, 0, NAN),
        s(1000, 0, 8.0, CHAMPION_SCORES),
        0,
        Action.ROLLBACK,
        "PSI",
    ),
    (
        "too few scores: inconclusive",
        s(300, 0, 8.0, (1.0, 2, 3)),
        s(1000, 0, 8.0, (10.0, 20, 30)),
        None,
        0,
        Action.EXTEND,
        "scores: 6 canary",
    ),
    (
        "canary scores but no baseline's: inconclusive",
        s(300, 0, 8.0, SIMILAR_SCORES),
        s(0, 0, NAN),
        None,
        0,
        Action.EXTEND,
        "0 baseline scores",
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
    assert decision.outcome is Outcome.FAIL


@pytest.mark.parametrize(
    ("canary", "expected"),
    [
        (s(10, 10, 900.0), Action.CONTINUE),  # a breach, but over too few requests to trust
        (s(60, 30, 5.0), Action.ROLLBACK),
        (s(60, 0, 5.0), Action.CONTINUE),  # never promotes before the window ends
        (s(60, 0, 800.0), Action.ROLLBACK),
        (s(60, 0, NAN), Action.CONTINUE),  # inconclusive mid-window: keep watching
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


@pytest.mark.parametrize(
    ("metric", "canary"),
    [
        ("error_rate", s(200, 100, 8.0, SIMILAR_SCORES)),
        ("latency", s(200, 0, 900.0, SIMILAR_SCORES)),
        ("scores", s(300, 0, 8.0, SHIFTED_SCORES)),
    ],
)
def test_a_dry_run_metric_is_measured_and_never_acts(metric: str, canary: Stats) -> None:
    champion = s(1000, 0, 8.0, CHAMPION_SCORES)
    acting = judge_window(Snapshot(canary, champion), None, 0, T)
    assert acting.action is Action.ROLLBACK  # the negative: without dry run it rolls back
    dry = dataclasses.replace(T, dry_run=frozenset({metric}))
    decision = judge_window(Snapshot(canary, champion), None, 0, dry)
    assert decision.action is Action.PROMOTE, decision.reason
    (measured,) = [m for m in decision.measurements if m.metric == metric]
    assert measured.dry_run and measured.outcome is Outcome.FAIL
    assert find_breach(Snapshot(canary, champion), None, dry).action is Action.CONTINUE


def test_a_dry_run_inconclusive_metric_does_not_hold_the_step() -> None:
    canary = s(300, 0, NAN)
    assert judge_window(Snapshot(canary, HEALTHY), None, 0, T).action is Action.EXTEND
    dry = dataclasses.replace(T, dry_run=frozenset({"latency"}))
    assert judge_window(Snapshot(canary, HEALTHY), None, 0, dry).action is Action.PROMOTE


def test_the_decision_records_test_statistic_p_value_and_samples() -> None:
    decision = judge_window(
        Snapshot(s(1000, 22, 8.0, SIMILAR_SCORES), s(1000, 2, 8.0, CHAMPION_SCORES)), None, 0, T
    )
    record = json.loads(json.dumps(decision.to_dict()))  # JSON-safe: no NaN, no inf
    by_metric = {m["metric"]: m for m in record["measurements"]}
    assert set(by_metric) == {"error_rate", "latency", "scores"}
    errors = by_metric["error_rate"]
    assert errors["test"] == "fisher_exact" and errors["outcome"] == "fail"
    assert errors["p_value"] < 0.05
    assert errors["statistic"] > 1  # odds ratio: the canary errs more
    assert (errors["canary_samples"], errors["baseline_samples"]) == (1000, 1000)
    assert by_metric["latency"]["statistic"] == 1.0
    assert (
        by_metric["scores"]["test"] == "psi+chi_square" and by_metric["scores"]["outcome"] == "pass"
    )
    assert record["outcome"] == "fail"


def test_an_infinite_odds_ratio_is_recorded_as_a_word() -> None:
    decision = judge_window(Snapshot(s(200, 100, 8.0), s(1000, 0, 8.0)), None, 0, T)
    errors = decision.to_dict()["measurements"][0]
    assert errors["statistic"] == "inf"
    json.dumps(decision.to_dict(), allow_nan=False)


def test_scores_gate_off() -> None:
    off = dataclasses.replace(T, max_score_psi=None)
    canary, champion = s(300, 0, 8.0, SHIFTED_SCORES), s(1000, 0, 8.0, CHAMPION_SCORES)
    decision = judge_window(Snapshot(canary, champion), None, 0, off)
    assert decision.action is Action.PROMOTE
    assert [m.metric for m in decision.measurements] == ["error_rate", "latency"]


def test_a_large_psi_over_a_small_sample_is_noise() -> None:
    """12 scores drawn near the champion's shape: a raw PSI ~0.76 (above 0.25) from
    sampling noise alone; less that noise it is within the bound, and the chi-square test
    says it is no shift either, so the gate passes."""
    few = dataclasses.replace(T, min_score_samples=10)
    canary = s(60, 0, 8.0, (1.0, 0, 2, 1, 2, 4, 1, 1, 0, 0))
    decision = judge_window(Snapshot(canary, s(1000, 0, 8.0, CHAMPION_SCORES)), None, 0, few)
    assert decision.action is Action.PROMOTE, decision.reason
    (scores,) = [m for m in decision.measurements if m.metric == "scores"]
    assert scores.statistic < 0.25 and scores.p_value > 0.05
    assert "sampling noise" in scores.reason, scores.reason


def test_a_mid_window_check_is_held_to_a_stricter_level() -> None:
    """3 errors in 100 against 2 in 1000: Fisher p ~0.006, a breach at the end of the
    window (alpha 0.05) but not at a mid-window look of 10 (alpha 0.005): peeking ten times
    must not multiply false breaches."""
    canary = s(100, 3, 8.0)
    peeking = dataclasses.replace(T, looks=10)
    assert judge_window(Snapshot(canary, HEALTHY), None, 0, peeking).action is Action.ROLLBACK
    assert find_breach(Snapshot(canary, HEALTHY), None, peeking).action is Action.CONTINUE
    assert find_breach(Snapshot(canary, HEALTHY), None, T).action is Action.ROLLBACK
    assert find_breach(Snapshot(s(100, 6, 8.0), HEALTHY), None, peeking).action is Action.ROLLBACK


# ---------------------------------------------------------------------- the shadow phase

ST = ShadowThresholds(min_requests=50, min_agreement=0.9, max_extensions=2, confidence=0.95)

# (name, agreement counts, extensions so far, expected action, expected outcome, reason has)
SHADOW_SCENARIOS = [
    ("all agree passes", ShadowStats(200, 0), 0, Action.PROMOTE, Outcome.PASS, "meets"),
    ("92% agreement passes", ShadowStats(184, 16), 0, Action.PROMOTE, Outcome.PASS, "92.00%"),
    (
        "88% over 200 is not shown below 90%: passes",
        ShadowStats(176, 24), 0, Action.PROMOTE, Outcome.PASS, "meets",
    ),
    (
        "50% agreement fails",
        ShadowStats(100, 100), 0, Action.ROLLBACK, Outcome.FAIL, "below the minimum 90%",
    ),
    (
        "shadow errors count as not agreeing",
        ShadowStats(60, 0, error=60), 0, Action.ROLLBACK, Outcome.FAIL, "60 errors",
    ),
    (
        "dropped copies are not answers: too few is inconclusive",
        ShadowStats(20, 0, dropped=500), 0, Action.EXTEND, Outcome.INCONCLUSIVE,
        "500 copies dropped",
    ),
    (
        "too few compared answers extends",
        ShadowStats(10, 0), 0, Action.EXTEND, Outcome.INCONCLUSIVE, "10 mirrored answers",
    ),
    (
        "a Prometheus gap extends",
        ShadowStats(NAN, NAN), 1, Action.EXTEND, Outcome.INCONCLUSIVE, "Prometheus gap",
    ),
    (
        "inconclusive past the limit rolls back",
        ShadowStats(10, 30), 2, Action.ROLLBACK, Outcome.INCONCLUSIVE, "after 2 extensions",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "stats", "extensions", "action", "outcome", "reason"),
    SHADOW_SCENARIOS,
    ids=[row[0] for row in SHADOW_SCENARIOS],
)
def test_shadow_decision(
    name: str, stats: ShadowStats, extensions: int, action: Action, outcome: Outcome, reason: str
) -> None:
    decision = judge_shadow(stats, extensions, ST)
    assert decision.action is action, decision.reason
    assert decision.outcome is outcome
    assert reason in decision.reason, decision.reason
    (agreement,) = decision.measurements
    assert agreement.metric == "agreement"


def test_shadow_decision_records_the_test_and_samples() -> None:
    decision = judge_shadow(ShadowStats(100, 100), 0, ST)
    (m,) = decision.measurements
    record = json.loads(json.dumps(decision.to_dict()))["measurements"][0]
    assert m.test == "binomial" and m.statistic == 0.5 and m.p_value < 1e-6
    assert record["canary_samples"] == 200 and record["outcome"] == "fail"


def test_shadow_dry_run_is_measured_and_never_acts() -> None:
    dry = dataclasses.replace(ST, dry_run=True)
    decision = judge_shadow(ShadowStats(100, 100), 0, dry)
    assert decision.action is Action.PROMOTE, decision.reason
    assert decision.measurements[0].outcome is Outcome.FAIL
    assert decision.measurements[0].dry_run
    assert "dry run" in decision.reason


def test_shadow_mid_window_check_only_rolls_back_and_is_stricter() -> None:
    """35 of 200 disagreeing (17.5% against a 10% bound): binomial p ~0.0007, a breach at
    a single look; at 100 looks (alpha 0.0005) not yet."""
    stats = ShadowStats(165, 35)
    assert shadow_breach(stats, ST).action is Action.ROLLBACK
    assert shadow_breach(stats, dataclasses.replace(ST, looks=100)).action is Action.CONTINUE
    assert shadow_breach(ShadowStats(200, 0), ST).action is Action.CONTINUE
    assert shadow_breach(ShadowStats(5, 0), ST).outcome is Outcome.INCONCLUSIVE

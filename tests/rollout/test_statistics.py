"""The statistical tests of the canary analysis (pure: scipy on counts)."""

from __future__ import annotations

import numpy as np
import pytest

from slipway.rollout import statistics


def test_fisher_sees_a_real_difference_and_not_noise() -> None:
    assert statistics.error_rate_test(22, 1000, 2, 1000).p_value < 0.001
    assert statistics.error_rate_test(1, 60, 2, 1000).p_value > 0.05
    # Same rates, ten times the sample: the evidence grows with the sample.
    small = statistics.error_rate_test(3, 100, 1, 100).p_value
    large = statistics.error_rate_test(30, 1000, 10, 1000).p_value
    assert large < 0.05 < small


def test_binomial_against_a_bound() -> None:
    assert statistics.error_rate_vs_bound(10, 200, 0.01).p_value < 0.01
    assert statistics.error_rate_vs_bound(0, 200, 0.01).p_value == 1.0


def test_psi() -> None:
    same = (10.0, 20, 30, 40)
    assert statistics.psi(same, same) == 0.0
    assert statistics.psi(same, (20.0, 40, 60, 80)) == pytest.approx(0.0)  # shape, not size
    assert statistics.psi(same, (40.0, 30, 20, 10)) > 0.25
    # An empty bucket on one side gives a large, finite index.
    assert 1 < statistics.psi((0.0, 0, 0, 100), (100.0, 0, 0, 0)) < 100


@pytest.mark.parametrize(
    ("expected", "actual", "message"),
    [((1.0, 2), (1.0, 2, 3), "buckets"), ((0.0, 0), (1.0, 2), "no observations")],
)
def test_psi_refuses_what_it_cannot_compare(
    expected: tuple[float, ...], actual: tuple[float, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        statistics.psi(expected, actual)


def test_bucket_counts_from_cumulative() -> None:
    assert statistics.bucket_counts((1.0, 3, 3, 10)) == (1.0, 2, 0, 7)
    assert statistics.bucket_counts((5.0, 4, 6)) == (5.0, 0, 1)  # a dip is clamped


def test_score_shift_test_accounts_for_sample_size() -> None:
    champion = (5.0, 10, 20, 40, 80, 80, 40, 20, 10, 5)
    few = (1.0, 0, 2, 1, 2, 4, 1, 1, 0, 0)  # 12 scores: PSI ~0.76, yet plausible noise
    assert statistics.psi(champion, few) > 0.25
    assert statistics.score_shift_test(champion, few).p_value > 0.5
    shifted = (80.0, 80, 40, 20, 10, 5, 5, 5, 5, 0)
    assert statistics.score_shift_test(champion, shifted).p_value < 1e-10
    # Buckets empty on both sides are left out; one bucket left: equal shapes.
    assert statistics.score_shift_test((0.0, 5, 0), (0.0, 9, 0)).p_value == 1.0
    with pytest.raises(ValueError, match="buckets"):
        statistics.score_shift_test((1.0,), (1.0, 2))


def test_psi_sampling_noise_is_what_samples_of_one_distribution_show() -> None:
    """Draws of one distribution: their raw PSI averages about the noise term, and the
    excess over it centres near zero; a real shift stays far above it."""
    rng = np.random.default_rng(0)
    shape = np.array([1, 5, 12, 20, 24, 20, 12, 5, 1], dtype=float)
    shape /= shape.sum()
    raw, excess = [], []
    for _ in range(400):
        champion = rng.multinomial(400, shape).astype(float)
        canary = rng.multinomial(44, shape).astype(float)
        noise = statistics.psi_sampling_noise(champion, canary)
        raw.append(statistics.psi(champion, canary))
        excess.append(raw[-1] - noise)
    assert 0.15 < float(np.mean(raw)) < 0.35  # noise alone near a "large shift"
    assert abs(float(np.median(excess))) < 0.1
    shifted = rng.multinomial(44, np.roll(shape, 3)).astype(float)
    champion = rng.multinomial(400, shape).astype(float)
    assert (
        statistics.psi(champion, shifted) - statistics.psi_sampling_noise(champion, shifted) > 1.0
    )
    assert statistics.psi_sampling_noise((0.0, 10), (0.0, 5)) == 0.0  # one bucket: none

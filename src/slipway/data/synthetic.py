"""A seeded synthetic dataset: customer churn, tabular binary classification.

It is the demo's data and the tests' data. ``drift`` shifts the chosen features (numeric
columns by ``drift`` standard deviations, categorical columns towards their last
category), so that drift detection and retraining have something real to find.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

NUMERIC_STD = {"tenure_months": 18.0, "monthly_charges": 25.0, "support_calls": 1.5, "age": 14.0}
CONTRACTS = ("monthly", "annual", "two_year")
REGIONS = ("north", "south", "east", "west")
PAYMENTS = ("card", "bank", "invoice")
DRIFTABLE = (*NUMERIC_STD, "contract", "region", "payment_method")


def _categorical(
    rng: np.random.Generator, values: Sequence[str], probs: Sequence[float], n: int, shift: float
) -> np.ndarray:
    p = np.asarray(probs, dtype=float)
    if shift:
        # Move probability mass towards the last category, proportional to the shift.
        move = min(abs(shift) * 0.25, 0.9)
        p = p * (1 - move)
        p[-1] += move
    return rng.choice(np.asarray(values), size=n, p=p / p.sum())


def generate(
    rows: int = 5000,
    seed: int = 0,
    drift: float = 0.0,
    drift_features: Sequence[str] = ("monthly_charges", "contract"),
) -> pd.DataFrame:
    """Return ``rows`` rows; the same arguments give the same frame, byte for byte."""
    if rows < 1:
        raise ValueError("rows must be at least 1")
    unknown = set(drift_features) - set(DRIFTABLE)
    if unknown:
        raise ValueError(f"cannot drift unknown features: {', '.join(sorted(unknown))}")
    rng = np.random.default_rng(seed)
    shift = {name: (drift if name in drift_features else 0.0) for name in DRIFTABLE}

    tenure = rng.gamma(2.0, 12.0, rows) + shift["tenure_months"] * NUMERIC_STD["tenure_months"]
    charges = (
        rng.normal(70.0, 25.0, rows) + shift["monthly_charges"] * NUMERIC_STD["monthly_charges"]
    )
    calls = rng.poisson(1.5 + max(shift["support_calls"], 0) * 1.5, rows)
    age = rng.normal(45.0, 14.0, rows) + shift["age"] * NUMERIC_STD["age"]
    contract = _categorical(rng, CONTRACTS, (0.55, 0.3, 0.15), rows, shift["contract"])
    region = _categorical(rng, REGIONS, (0.25, 0.25, 0.25, 0.25), rows, shift["region"])
    payment = _categorical(rng, PAYMENTS, (0.5, 0.3, 0.2), rows, shift["payment_method"])

    tenure = np.clip(tenure, 0, 120).round(1)
    charges = np.clip(charges, 5, 250).round(2)
    calls = np.clip(calls, 0, 20)
    age = np.clip(age, 18, 100).round().astype(int)

    logit = (
        -0.6
        + 1.6 * (contract == "monthly")
        - 0.9 * (contract == "two_year")
        - 0.045 * tenure
        + 0.025 * (charges - 70.0)
        + 0.45 * calls
        + 0.5 * (payment == "invoice")
        - 0.012 * (age - 45.0)
        + 0.2 * (region == "south")
    )
    churned = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {
            "tenure_months": tenure,
            "monthly_charges": charges,
            "support_calls": calls.astype(int),
            "age": age,
            "contract": contract,
            "region": region,
            "payment_method": payment,
            "churned": churned,
        }
    )

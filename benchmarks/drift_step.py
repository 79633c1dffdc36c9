"""Drift step benchmark: how long judging a window of served rows takes, by window size.

Not a test. For each size, the served rows are recorded the predictor's way (PayloadLog,
50 instances a request, drifted synthetic data), then timed: reading the window back
(slipway.monitoring.payloads) and Evidently's comparison with a 5,000-row reference
(slipway.monitoring.drift). Evidently's import (seconds, once per process) is timed apart;
the MLflow calls of the full step (the reference's download, the report's upload) are not
included: they do not grow with the window.

    .venv/bin/python benchmarks/drift_step.py --rows 10000 --rows 100000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from slipway.config import DriftSettings, PayloadSettings
from slipway.data.synthetic import generate
from slipway.monitoring import drift, payloads
from slipway.serving.payload_log import PayloadLog

NUMERIC = ["tenure_months", "monthly_charges", "support_calls", "age"]
CATEGORICAL = ["contract", "region", "payment_method"]
BATCH = 50


def record(folder: Path, rows: int) -> None:
    served = generate(rows, seed=5, drift=1.0)
    columns = [*NUMERIC, *CATEGORICAL]
    values = served[columns].to_numpy(dtype=object).tolist()
    scores = np.random.default_rng(0).random(rows)
    log = PayloadLog("bench", "1", columns, PayloadSettings(directory=folder, sample_rate=1.0,
                                                            flush_seconds=3600))  # fmt: skip
    for start in range(0, rows, BATCH):
        log.record(values[start : start + BATCH], scores[start : start + BATCH], None)
    log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "drift_results.json")
    args = parser.parse_args()
    sizes = args.rows or [10_000, 100_000]
    reference = generate(5000, seed=1)
    reference["score"] = np.random.default_rng(1).random(len(reference))
    t = time.perf_counter()
    drift._evidently()
    import evidently.presets  # noqa: F401  (what compare imports first)

    results: dict[str, object] = {"evidently_import_s": round(time.perf_counter() - t, 2)}
    for rows in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            record(Path(tmp), rows)
            t0 = time.perf_counter()
            current = payloads.read_folder(Path(tmp), "bench", "1")
            t1 = time.perf_counter()
            report, html = drift.compare(
                reference, current, [*NUMERIC, "score"], CATEGORICAL, DriftSettings(),
                model="bench", version="1",
            )  # fmt: skip
            t2 = time.perf_counter()
        assert report.rows == rows
        assert html is not None
        results[str(rows)] = {
            "read_s": round(t1 - t0, 2),
            "evidently_s": round(t2 - t1, 2),
            "total_s": round(t2 - t0, 2),
            "status": report.status,
        }
        print(f"{rows:>7} rows: read {t1 - t0:6.2f} s, Evidently {t2 - t1:6.2f} s", flush=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

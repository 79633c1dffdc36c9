"""Shadow benchmark: the latency the shadow mirror adds to the live request, in one run.

One small model (benchmarks/serve_bench.train_model) served twice by real predictors
(``python -m slipway.serving``): a champion and a challenger. Loaded with
benchmarks/serve_load.py (closed loop, N clients, batch 1), in interleaved rounds:

- ``direct``: the champion, no router;
- ``router``: through slipway's router (slipway.local.router), shadow off;
- ``shadow-10``, ``shadow-100``: the same router mirroring 10% / 100% of the requests to the
  challenger (``max_inflight`` 32, timeout 2 s).

Reported as ratios to ``router`` (shadow on against off) and to ``direct`` (the router
itself), with the median round per configuration, plus the added p50/p99 in ms: the bound
the issue asks for. The mirror's copies and its comparisons run on the router's event loop
after the live answer went out; what they can add is bounded by ``max_inflight`` copies
sharing the loop (a copy beyond it is dropped, and counted: ``dropped`` below).

    .venv/bin/python benchmarks/shadow_latency.py --duration 5 --concurrency 4 --rounds 3

Writes benchmarks/shadow_latency_results.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_bench import PY, ROW, _free_port, load, running, train_model
from serve_bench import Server as Proc

MODEL = "churn-classifier"
RESULTS = Path(__file__).resolve().parent / "shadow_latency_results.json"
PREDICT = f"/v1/models/{MODEL}:predict"


def predictor(model_dir: Path, version: str, port: int) -> Proc:
    command = [PY, "-m", "slipway.serving", "--model-dir", str(model_dir), "--model-name",
               MODEL, "--model-version", version, "--run-id", "bench", "--http-port",
               str(port), "--host", "127.0.0.1"]  # fmt: skip
    return Proc(version, command, f"/v2/models/{MODEL}/ready", PREDICT, {"instances": [ROW]}, {})


def router(port: int, champion_url: str) -> Proc:
    backends = [{"name": "champion", "url": champion_url, "weight": 100, "model_version": "1"}]
    command = [PY, "-m", "slipway.local.router", "--port", str(port), "--backends",
               json.dumps(backends)]  # fmt: skip
    return Proc("router", command, "/-/router/health", PREDICT, {"instances": [ROW]}, {})


def shadow_counts(router_url: str) -> dict[str, float]:
    from slipway.serving.shadow import counts_in

    return counts_in(httpx.get(f"{router_url}/metrics").text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model-dir", type=Path, help="an MLflow model folder (else trained)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="slipway-shadow-bench-") as tmp:
        work = Path(tmp)
        model_dir = args.model_dir or train_model(work / "state")
        ports = [_free_port() for _ in range(3)]
        with (
            running(predictor(model_dir, "1", ports[0]), ports[0], work / "c.log") as (champ, _),
            running(predictor(model_dir, "2", ports[1]), ports[1], work / "s.log") as (shad, _),
            running(router(ports[2], champ), ports[2], work / "r.log") as (front, _),
        ):
            runs: dict[str, list[dict[str, Any]]] = {}
            configs: list[tuple[str, str, float]] = [
                ("direct", champ, 0), ("router", front, 0),
                ("shadow-10", front, 10), ("shadow-100", front, 100),
            ]  # fmt: skip
            for _ in range(args.rounds):
                for name, url, percent in configs:
                    target: dict[str, Any] = {"url": None}
                    if percent:
                        target = {"url": shad, "model_name": MODEL, "model_version": "2",
                                  "percent": percent, "max_inflight": 32,
                                  "timeout_seconds": 2.0}  # fmt: skip
                    httpx.put(f"{front}/-/shadow", json=target).raise_for_status()
                    body = {"instances": [ROW]}
                    result = load(url + PREDICT, body, args.concurrency, args.duration)
                    runs.setdefault(name, []).append(result)
                    time.sleep(0.5)  # the last copies answered before the next round
            counts = shadow_counts(front)
    summary = {
        name: {
            "p50_ms": statistics.median(r["p50_ms"] for r in rs),
            "p99_ms": statistics.median(r["p99_ms"] for r in rs),
            "throughput_rps": statistics.median(r["throughput_rps"] for r in rs),
            "errors": sum(r["errors"] for r in rs),
            "rounds": len(rs),
        }
        for name, rs in runs.items()
    }
    off = summary["router"]
    ratios = {
        f"{name}/router": {
            "p50": round(s["p50_ms"] / off["p50_ms"], 3),
            "p99": round(s["p99_ms"] / off["p99_ms"], 3),
            "added_p50_ms": round(s["p50_ms"] - off["p50_ms"], 3),
            "added_p99_ms": round(s["p99_ms"] - off["p99_ms"], 3),
        }
        for name, s in summary.items()
        if name.startswith("shadow")
    }
    direct = summary["direct"]
    ratios["router/direct"] = {
        "p50": round(off["p50_ms"] / direct["p50_ms"], 3),
        "p99": round(off["p99_ms"] / direct["p99_ms"], 3),
        "added_p50_ms": round(off["p50_ms"] - direct["p50_ms"], 3),
        "added_p99_ms": round(off["p99_ms"] - direct["p99_ms"], 3),
    }
    report = {
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "summary": summary,
        "ratios": ratios,
        "bound": {
            "shadow_added_p99_ms": max(ratios[k]["added_p99_ms"] for k in ratios if "shadow" in k),
            "max_inflight": 32,
        },
        "shadow_counts": counts,
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

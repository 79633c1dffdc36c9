"""Serving benchmark: slipway's predictor against its peers on the same model, same machine,
one run. Not a test: it takes minutes and numbers depend on the machine.

Servers (each pinned to one core, the load generator to another, when ``taskset`` exists):
- slipway: ``slipway serve`` (KServe ModelServer, lean HTTP path, validation and metrics on)
- slipway via KServe routes: the same model through KServe's own FastAPI routes
- ``mlflow models serve`` (MLflow's scoring server, local env)
- MLServer with its MLflow runtime (what KServe's ``kserve-mlserver`` runtime runs), in its
  own virtual environment ``.tools/peers`` built from ``benchmarks/peers.lock``
- ceiling: a bare ASGI app returning a constant (benchmarks/ceiling_app.py)
- slipway with payload recording (monitoring.payloads) at 100% and 10% of requests: the
  cost of recording, as ratios to plain ``slipway`` (``--only =slipway --only payloads``)

Each is loaded by benchmarks/serve_load.py (closed loop, N clients, batch 1) for the same
duration, in rounds (servers interleaved, so that background load on the machine hits all
alike); the median round per server is reported.

    .venv/bin/python benchmarks/serve_bench.py --duration 10 --concurrency 8 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
REPO = Path(__file__).resolve().parent.parent
PEERS = REPO / ".tools" / "peers"
PY = sys.executable
ROW = {
    "tenure_months": 12.0,
    "monthly_charges": 70.5,
    "support_calls": 2,
    "age": 40,
    "contract": "monthly",
    "region": "north",
    "payment_method": "card",
}


def _free_port() -> int:
    from slipway.local.processes import free_port

    return free_port()


def ensure_peers() -> Path:
    """The peers' virtual environment, built from the lock file on first use."""
    python = PEERS / "bin" / "python"
    if python.exists():
        return python
    uv = REPO / ".venv" / "bin" / "uv"
    subprocess.run([str(uv), "venv", "--python", PY, str(PEERS)], check=True)
    subprocess.run(
        [
            str(uv),
            "pip",
            "install",
            "--python",
            str(python),
            "--find-links",
            "/opt/wheels",
            "-r",
            str(REPO / "benchmarks" / "peers.lock"),
        ],
        check=True,
    )
    return python


def train_model(state: Path) -> Path:
    """One small MLP (the demo network, few epochs) registered in a throwaway MLflow;
    returns the downloaded MLflow model folder."""
    os.environ["SLIPWAY_TRAINING__EPOCHS"] = "3"
    os.environ["SLIPWAY_TRAINING__PROGRESS"] = "false"
    from slipway.config import load_settings
    from slipway.data import synthetic, tables
    from slipway.local.stack import start_mlflow
    from slipway.pipeline.steps import run_pipeline
    from slipway.registry import tracking
    from slipway.serving.server import from_registry

    server = start_mlflow(state)
    try:
        os.environ["MLFLOW_TRACKING_URI"] = server.url
        settings = load_settings()
        client = tracking.connect(server.url)
        data = state / "train.csv"
        tables.write_table(synthetic.generate(3000, 1), data)
        result = run_pipeline(client, settings, data)
        if result.registration is None:
            raise SystemExit(f"the benchmark model failed its gate: {result.decision}")
        name, version = result.registration.name, result.registration.version
        return from_registry(f"models:/{name}/{version}", state / "models", client).model_dir
    finally:
        server.stop()


@dataclass
class Server:
    name: str
    command: list[str]
    ready_path: str
    request_path: str
    body: dict[str, Any]
    env: dict[str, str]
    cwd: Path | None = None


def servers(model_dir: Path, port: int, work: Path) -> list[Server]:
    name = "churn-classifier"
    v1 = {"instances": [ROW]}
    slipway = [
        PY,
        "-m",
        "slipway.serving",
        "--model-dir",
        str(model_dir),
        "--model-name",
        name,
        "--model-version",
        "1",
        "--http-port",
        str(port),
        "--host",
        "127.0.0.1",
    ]
    mlserver_dir = work / "mlserver"
    (mlserver_dir / name).mkdir(parents=True, exist_ok=True)
    (mlserver_dir / "settings.json").write_text(
        json.dumps(
            {
                "http_port": port,
                "grpc_port": _free_port(),
                "metrics_port": _free_port(),
                "host": "127.0.0.1",
                "parallel_workers": 0,
            }
        )
    )
    (mlserver_dir / name / "model-settings.json").write_text(
        json.dumps(
            {
                "name": name,
                "implementation": "mlserver_mlflow.MLflowRuntime",
                "parameters": {"uri": str(model_dir)},
            }
        )
    )
    # The peers enforce the MLflow signature: send each column in the type it declares.
    types = signature_types(model_dir)
    cast = {"FP64": float, "INT64": int, "BYTES": str}
    v2_pd = {
        "parameters": {"content_type": "pd"},
        "inputs": [
            {"name": k, "datatype": types[k], "shape": [1], "data": [cast[types[k]](v)]}
            for k, v in ROW.items()
        ],
    }
    # slipway's v2 body: one tensor per feature, JSON data (the Open Inference Protocol's
    # default encoding).
    v2_slipway = {
        "inputs": [
            {"name": k, "datatype": types[k], "shape": [1], "data": [cast[types[k]](v)]}
            for k, v in ROW.items()
        ],
    }
    mlflow_records = {"dataframe_records": [{k: cast[types[k]](v) for k, v in ROW.items()}]}
    return [
        Server(
            "slipway", slipway, f"/v2/models/{name}/ready", f"/v1/models/{name}:predict", v1, {}
        ),
        Server(
            "slipway, payloads 100%",
            slipway,
            f"/v2/models/{name}/ready",
            f"/v1/models/{name}:predict",
            v1,
            {
                "SLIPWAY_MONITORING__PAYLOADS__SAMPLE_RATE": "1.0",
                "SLIPWAY_MONITORING__PAYLOADS__DIRECTORY": str(work / "payloads-100"),
            },
        ),
        Server(
            "slipway, payloads 10%",
            slipway,
            f"/v2/models/{name}/ready",
            f"/v1/models/{name}:predict",
            v1,
            {
                "SLIPWAY_MONITORING__PAYLOADS__SAMPLE_RATE": "0.1",
                "SLIPWAY_MONITORING__PAYLOADS__DIRECTORY": str(work / "payloads-10"),
            },
        ),
        Server(
            "slipway, v2 JSON",
            slipway,
            f"/v2/models/{name}/ready",
            f"/v2/models/{name}/infer",
            v2_slipway,
            {},
        ),
        Server(
            "slipway, KServe routes",
            slipway,
            f"/v2/models/{name}/ready",
            f"/v1/models/{name}:predict",
            v1,
            {"SLIPWAY_SERVING__LEAN_HTTP": "false"},
        ),
        Server(
            "mlflow models serve",
            [
                str(REPO / ".venv" / "bin" / "mlflow"),
                "models",
                "serve",
                "-m",
                str(model_dir),
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-w",
                "1",
            ],
            "/health",
            "/invocations",
            mlflow_records,
            {},
        ),
        Server(
            "MLServer + MLflow runtime",
            [str(PEERS / "bin" / "mlserver"), "start", str(mlserver_dir)],
            f"/v2/models/{name}/ready",
            f"/v2/models/{name}/infer",
            v2_pd,
            {},
        ),
        Server(
            "ceiling (bare ASGI)",
            [PY, str(REPO / "benchmarks" / "ceiling_app.py"), "--port", str(port)],
            "/",
            "/",
            v1,
            {},
        ),
    ]


def signature_types(model_dir: Path) -> dict[str, str]:
    """Open Inference Protocol datatype of each input column, from the MLmodel signature."""
    from ruamel.yaml import YAML

    mlmodel = YAML(typ="safe").load((model_dir / "MLmodel").read_text())
    columns = json.loads(mlmodel["signature"]["inputs"])
    mapping = {
        "double": "FP64",
        "float": "FP64",
        "long": "INT64",
        "integer": "INT64",
        "string": "BYTES",
    }
    return {c["name"]: mapping[c["type"]] for c in columns}


def _pin(core: int) -> list[str]:
    return ["taskset", "-c", str(core)] if shutil.which("taskset") and os.cpu_count() else []


def session_cpu_seconds(session: int) -> float:
    """CPU time (user + system) of every live process in a session, in seconds.

    On a shared machine, wall-clock throughput depends on what else runs; the CPU a server
    spends per request hardly does, so the benchmark reports both.
    """
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session:  # field 6 of stat: the session id
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


@contextmanager
def running(server: Server, port: int, log: Path) -> Iterator[tuple[str, int]]:
    # mlflow models serve runs `uvicorn` from PATH: the interpreter's bin folder first.
    path = f"{Path(PY).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path, "MLFLOW_TRACKING_URI": "", **server.env}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*_pin(1), *server.command],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:]
                raise SystemExit(f"{server.name} exited:\n{tail}")
            try:
                if httpx.get(url + server.ready_path, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        else:
            raise SystemExit(f"{server.name} did not start; see {log}")
        check = httpx.post(url + server.request_path, json=server.body, timeout=10)
        if check.status_code != 200:
            raise SystemExit(f"{server.name} answered {check.status_code}: {check.text[-1500:]}")
        yield url, proc.pid
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)


def load(url: str, body: dict[str, Any], concurrency: int, duration: float) -> dict[str, Any]:
    out = subprocess.run(
        [
            *_pin(0),
            PY,
            str(REPO / "benchmarks" / "serve_load.py"),
            "--url",
            url,
            "--body",
            json.dumps(body),
            "--concurrency",
            str(concurrency),
            "--duration",
            str(duration),
            "--warmup",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--model-dir", type=Path, help="an MLflow model folder (default: train one)"
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "serve_results.json")
    parser.add_argument(
        "--only",
        action="append",
        help="run only servers whose name has this (=NAME: exactly this name)",
    )
    args = parser.parse_args()
    if not args.only or any(o in "MLServer + MLflow runtime" for o in args.only):
        ensure_peers()  # only when MLServer runs: building it takes minutes
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_dir = args.model_dir or train_model(work / "state")
        rounds: dict[str, list[dict[str, Any]]] = {}
        for r in range(args.rounds):
            for server in servers(model_dir, 0, work):  # names only
                if args.only and not any(_chosen(o, server.name) for o in args.only):
                    continue
                port = _free_port()
                chosen = next(s for s in servers(model_dir, port, work) if s.name == server.name)
                log = work / f"{server.name.split()[0]}-{r}.log"
                with running(chosen, port, log) as (url, session):
                    cpu_before = session_cpu_seconds(session)
                    result = load(
                        url + chosen.request_path, chosen.body, args.concurrency, args.duration
                    )
                    cpu = session_cpu_seconds(session) - cpu_before
                served = result["requests"] + result["warmup_requests"]
                result["cpu_us_per_request"] = round(1e6 * cpu / max(served, 1), 1)
                result["capacity_rps_per_core"] = round(served / cpu, 1) if cpu else 0.0
                result["round"] = r
                rounds.setdefault(server.name, []).append(result)
                print(
                    f"round {r} {server.name:<28} {result['throughput_rps']:>8.1f} req/s  "
                    f"{result['cpu_us_per_request']:>7.1f} cpu-us/req  "
                    f"p50 {result['p50_ms']:.2f} ms  p99 {result['p99_ms']:.2f} ms  "
                    f"errors {result['errors']}",
                    flush=True,
                )
    summary = {}
    for name, results in rounds.items():
        median = sorted(results, key=lambda x: x["throughput_rps"])[len(results) // 2]
        summary[name] = {
            "throughput_rps": median["throughput_rps"],
            "p50_ms": median["p50_ms"],
            "p99_ms": median["p99_ms"],
            "errors": sum(x["errors"] for x in results),
            "throughput_all_rounds": [x["throughput_rps"] for x in results],
            "p99_median_of_rounds": statistics.median(x["p99_ms"] for x in results),
            "cpu_us_per_request": statistics.median(x["cpu_us_per_request"] for x in results),
            "capacity_rps_per_core": statistics.median(x["capacity_rps_per_core"] for x in results),
        }
    args.out.write_text(
        json.dumps(
            {
                "concurrency": args.concurrency,
                "duration_s": args.duration,
                "rounds": args.rounds,
                "servers": summary,
            },
            indent=2,
        )
    )
    print(table(summary))
    print(payload_cost(summary))


def _chosen(pattern: str, name: str) -> bool:
    return name == pattern[1:] if pattern.startswith("=") else pattern in name


def payload_cost(summary: dict[str, dict[str, Any]]) -> str:
    """Markdown: payload recording's cost, each recording server against plain slipway."""
    base = summary.get("slipway")
    rows = [(n, s) for n, s in summary.items() if "payloads" in n]
    if not base or not rows:
        return ""
    lines = [
        "| payload recording | req/s | p99 ms | CPU us/req | req/s vs without | p99 vs without "
        "| CPU vs without |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| without | {base['throughput_rps']:.0f} | {base['p99_ms']:.2f} | "
        f"{base['cpu_us_per_request']:.0f} | 1.00 | 1.00 | 1.00 |",
    ]
    for name, s in rows:
        lines.append(
            f"| {name.removeprefix('slipway, payloads ')} | {s['throughput_rps']:.0f} | "
            f"{s['p99_ms']:.2f} | {s['cpu_us_per_request']:.0f} | "
            f"{s['throughput_rps'] / base['throughput_rps']:.2f} | "
            f"{s['p99_ms'] / base['p99_ms']:.2f} | "
            f"{s['cpu_us_per_request'] / base['cpu_us_per_request']:.2f} |"
        )
    return "\n".join(lines)


def table(summary: dict[str, dict[str, Any]]) -> str:
    """Markdown: measured throughput and latency, and CPU per request (with the capacity of
    one core it implies), each with its ratio to MLServer and to the ceiling."""
    ml = summary.get("MLServer + MLflow runtime", {})
    top = summary.get("ceiling (bare ASGI)", {})
    lines = [
        "| server | req/s | p50 ms | p99 ms | errors | x MLServer | of ceiling "
        "| CPU us/req | req/s per core (CPU) | x MLServer | of ceiling |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def ratio(value: float, base: Any, percent: bool = False) -> str:
        if not base:
            return "-"
        return f"{100 * value / base:.0f}%" if percent else f"{value / base:.2f}"

    for name, s in summary.items():
        rps, cap = s["throughput_rps"], s["capacity_rps_per_core"]
        lines.append(
            f"| {name} | {rps:.0f} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {s['errors']} | "
            f"{ratio(rps, ml.get('throughput_rps'))} | "
            f"{ratio(rps, top.get('throughput_rps'), True)} | {s['cpu_us_per_request']:.0f} | "
            f"{cap:.0f} | {ratio(cap, ml.get('capacity_rps_per_core'))} | "
            f"{ratio(cap, top.get('capacity_rps_per_core'), True)} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()

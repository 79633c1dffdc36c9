"""CPU per request of the predictor's HTTP layer and model, in-process: one v1 and one v2
JSON request (batch 1) through ``Gateway`` with a prepared ASGI scope, no sockets.

The serving benchmark (serve_bench.py) measures the whole server over loopback, and on a
machine that other work shares its figures move by tens of percent; this one counts only
this process's CPU time (``time.process_time``) and reports the best of many short
repeats, which moves by a few percent, so that two versions of the request path can be
compared. Run it once per version, alternating:

    .venv/bin/python benchmarks/gateway_cpu.py --model-dir MODEL_DIR
    PYTHONPATH=/path/to/other/checkout/src .venv/bin/python benchmarks/gateway_cpu.py ...
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry
from serve_bench import ROW  # the same request row as the loopback benchmark

from slipway.serving.gateway import Gateway
from slipway.serving.predictor import SlipwayPredictor

MODEL = "churn-classifier"
_TYPES = {"tenure_months": "FP64", "monthly_charges": "FP64", "support_calls": "INT64",
          "age": "INT64"}  # fmt: skip
BODIES = {
    "v1": (f"/v1/models/{MODEL}:predict", orjson.dumps({"instances": [ROW]})),
    "v2": (
        f"/v2/models/{MODEL}/infer",
        orjson.dumps(
            {
                "inputs": [
                    {"name": k, "datatype": _TYPES.get(k, "BYTES"), "shape": [1], "data": [v]}
                    for k, v in ROW.items()
                ]
            }
        ),
    ),
}


def binary_v2() -> tuple[bytes, int]:
    """The v2 request as tritonclient sends it by default: every input in the binary part,
    every output asked for in binary."""
    import struct

    inputs, chunks = [], []
    for name, value in ROW.items():
        datatype = _TYPES.get(name, "BYTES")
        if datatype == "BYTES":
            raw = struct.pack("<I", len(str(value))) + str(value).encode()
        else:
            raw = struct.pack("<d" if datatype == "FP64" else "<q", value)
        inputs.append({"name": name, "datatype": datatype, "shape": [1],
                       "parameters": {"binary_data_size": len(raw)}})  # fmt: skip
        chunks.append(raw)
    head = orjson.dumps({"inputs": inputs, "parameters": {"binary_data_output": True}})
    return head + b"".join(chunks), len(head)


# What a client sends besides the body (uvicorn hands the layer every header).
_HEADERS = [(b"host", b"127.0.0.1:8080"), (b"content-type", b"application/json"),
            (b"accept", b"*/*"), (b"user-agent", b"gateway-cpu")]  # fmt: skip


async def _unreachable(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("the lean path answers these requests itself")


async def cpu_us_per_request(
    gateway: Gateway, path: str, body: bytes, n: int, header_length: int | None = None
) -> float:
    headers = [*_HEADERS, (b"content-length", str(len(body)).encode())]
    if header_length is not None:
        headers.append((b"inference-header-content-length", str(header_length).encode()))
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Any) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    start = time.process_time()
    for _ in range(n):
        scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
        await gateway(scope, receive, send)
    spent = time.process_time() - start
    if status != 200:
        raise SystemExit(f"{path} answered {status}")
    return 1e6 * spent / n


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, required=True, help="an MLflow model folder")
    parser.add_argument("--requests", type=int, default=1000, help="per repeat")
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument(
        "--binary", action="store_true", help="also a v2 request in the binary extension"
    )
    args = parser.parse_args()
    model = SlipwayPredictor(MODEL, args.model_dir, "1", "bench", registry=CollectorRegistry())
    model.load()
    gateway = Gateway(_unreachable, model)
    gc.freeze()  # as the server does after loading
    cases: dict[str, tuple[str, bytes, int | None]] = {
        name: (path, body, None) for name, (path, body) in BODIES.items()
    }
    if args.binary:
        cases["v2_binary"] = (BODIES["v2"][0], *binary_v2())
    result = {}
    for name, (path, body, length) in cases.items():
        await cpu_us_per_request(gateway, path, body, args.requests, length)  # warm-up
        runs = [
            await cpu_us_per_request(gateway, path, body, args.requests, length)
            for _ in range(args.repeats)
        ]
        result[f"{name}_cpu_us"] = round(min(runs), 2)
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())

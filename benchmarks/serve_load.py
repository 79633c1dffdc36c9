"""A closed-loop HTTP load generator: N clients, each sending its next request as soon as
the previous answer arrives, for a fixed duration; reports throughput, p50, p99, errors.

It speaks HTTP/1.1 over keep-alive connections with asyncio streams (uvloop when
installed) and parses only the status line and Content-Length, so that one core of load
generation outruns one core of server: a general-purpose client library would measure
itself. Loopback targets only.

    python benchmarks/serve_load.py --url http://127.0.0.1:8080/v1/models/m:predict \\
        --body-file request.json --concurrency 8 --duration 10 [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class Result:
    url: str
    concurrency: int
    duration_s: float
    requests: int
    errors: int
    throughput_rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    warmup_requests: int = 0


def _quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


async def _client(
    host: str,
    port: int,
    request: bytes,
    deadline: float,
    latencies: list[float],
    errors: list[int],
    max_requests: int,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    clock = time.perf_counter
    sent = 0
    try:
        while sent < max_requests:
            start = clock()
            if start >= deadline:
                break
            writer.write(request)
            status_line = await reader.readuntil(b"\r\n")
            length = 0
            close = False
            while True:
                line = await reader.readuntil(b"\r\n")
                if line == b"\r\n":
                    break
                name, _, value = line.partition(b":")
                lowered = name.strip().lower()
                if lowered == b"content-length":
                    length = int(value)
                elif lowered == b"connection" and value.strip().lower() == b"close":
                    close = True
            if length:
                await reader.readexactly(length)
            latencies.append(clock() - start)
            sent += 1
            if status_line[9:12] != b"200":
                errors.append(int(status_line[9:12]))
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()


async def run_load(
    url: str,
    body: bytes,
    concurrency: int,
    duration: float,
    warmup: float = 1.0,
    max_requests: int = 5_000_000,
) -> Result:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    if host not in LOOPBACK:
        raise SystemExit(f"refusing a non-loopback target: {host}")
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    warm: list[float] = []
    if warmup > 0:
        await asyncio.gather(
            *(
                _client(host, port, request, time.perf_counter() + warmup, warm, [], max_requests)
                for _ in range(concurrency)
            )
        )
    latencies: list[float] = []
    errors: list[int] = []
    start = time.perf_counter()
    deadline = start + duration
    await asyncio.gather(
        *(
            _client(host, port, request, deadline, latencies, errors, max_requests)
            for _ in range(concurrency)
        )
    )
    elapsed = time.perf_counter() - start
    ordered = sorted(latencies)
    return Result(
        url=url,
        concurrency=concurrency,
        duration_s=round(elapsed, 3),
        requests=len(latencies),
        errors=len(errors),
        throughput_rps=round(len(latencies) / elapsed, 1),
        p50_ms=round(_quantile(ordered, 0.50) * 1000, 3),
        p99_ms=round(_quantile(ordered, 0.99) * 1000, 3),
        max_ms=round((ordered[-1] if ordered else float("nan")) * 1000, 3),
        warmup_requests=len(warm),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    body = parser.add_mutually_exclusive_group(required=True)
    body.add_argument("--body", help="request body (JSON text)")
    body.add_argument("--body-file", help="file holding the request body")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    payload = args.body.encode() if args.body else Path(args.body_file).read_bytes()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(run_load(args.url, payload, args.concurrency, args.duration, args.warmup))
    if args.json:
        print(json.dumps(asdict(result)))
    else:
        print(
            f"{result.throughput_rps:>9.1f} req/s  p50 {result.p50_ms:.2f} ms  "
            f"p99 {result.p99_ms:.2f} ms  errors {result.errors}/{result.requests}",
            file=sys.stdout,
        )


if __name__ == "__main__":
    main()

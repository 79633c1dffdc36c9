"""Shared by the rollout tests on real servers: clients sending live traffic through the
router (recording who answered each request), and the shadow mirror's counters read from a
real ``/metrics`` page."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from serving_support import MODEL

from slipway.data import synthetic
from slipway.serving import shadow


def request_rows(seed: int, count: int = 300) -> list[dict[str, Any]]:
    """Varied requests, so that each version's prediction scores form a distribution (one
    repeated row would put every score in one bucket)."""
    rows: list[dict[str, Any]] = (
        synthetic.generate(count, seed=seed).drop(columns=["churned"]).to_dict("records")
    )
    return rows


@dataclass
class Hit:
    at: float
    status: int | str
    version: str | None


@dataclass
class Load:
    """Clients calling the router at a steady pace until stopped (bounded: at most
    ``limit`` requests), recording every answer and the version that gave it."""

    url: str
    rows: Sequence[Mapping[str, Any]]
    clients: int = 2
    pause: float = 0.01
    limit: int = 20_000
    hits: list[Hit] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _loop(self, seed: int) -> None:
        # Rows drawn at random, not in turn: the router's round robin is deterministic,
        # and rows in turn could give the canary the same few rows again and again.
        rng = random.Random(seed)  # noqa: S311  (test traffic, not a secret)
        with httpx.Client(timeout=30) as http:
            while not self._stop.is_set() and len(self.hits) < self.limit:
                body = {"instances": [dict(rng.choice(self.rows))]}
                try:
                    r = http.post(f"{self.url}/v1/models/{MODEL}:predict", json=body)
                    version = r.headers.get("x-slipway-model-version")
                    self.hits.append(Hit(time.time(), r.status_code, version))
                except httpx.HTTPError as exc:
                    self.hits.append(Hit(time.time(), type(exc).__name__, None))
                time.sleep(self.pause)

    def __enter__(self) -> Load:
        for seed in range(self.clients):
            thread = threading.Thread(target=self._loop, args=(seed,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def statuses(self) -> set[int | str]:
        return {h.status for h in self.hits}


def shadow_counts(url: str) -> dict[str, float]:
    """``slipway_shadow_requests_total`` by outcome, from ``url``'s /metrics."""
    return shadow.counts_in(httpx.get(f"{url}/metrics").text)

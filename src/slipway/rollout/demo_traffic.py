"""Synthetic requests for a local rollout (``slipway rollout start --traffic``)."""

from __future__ import annotations

import contextlib


class DemoTraffic:
    """Synthetic requests through the local router while a rollout runs (``--traffic``):
    without clients a canary gets no requests and cannot be judged. Loopback only, at
    most ``rate`` requests per second, stopped with the rollout."""

    def __init__(self, url: str, model: str, rate: float) -> None:
        import threading

        self.url = f"{url}/v1/models/{model}:predict"
        self.rate = rate
        self.stop = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import httpx

        from slipway.data import synthetic

        frame = synthetic.generate(500, seed=12345)
        rows = frame.drop(columns=["churned"]).to_dict("records")
        with httpx.Client(timeout=30) as http:
            while not self.stop.is_set():
                # A failed request is the canary's or the router's business, not the sender's.
                with contextlib.suppress(httpx.HTTPError):
                    http.post(self.url, json={"instances": [rows[self.sent % len(rows)]]})
                self.sent += 1
                self.stop.wait(1.0 / self.rate)

    def __enter__(self) -> DemoTraffic:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)

"""Settings of the predictor (slipway.serving)."""

from __future__ import annotations

from pydantic import Field, model_validator

from slipway.config.base import _Section


class ServingSettings(_Section):
    """The predictor (slipway.serving): request limits, metrics, test-only fault injection."""

    max_batch_size: int = Field(
        256, ge=1, description="Most instances in one request; more answers HTTP 413."
    )
    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest request body in bytes; more answers HTTP 413."
    )
    lean_http: bool = Field(
        True,
        description="Answer predict/infer in slipway's lean ASGI layer in front of KServe's "
        "app (false: through KServe's own FastAPI routes; same model, slower).",
    )
    torch_threads: int = Field(
        1,
        ge=1,
        description="BLAS threads of the predictor's numpy forward pass (named for the torch "
        "forward it replaced).",
    )
    access_log: bool = Field(
        False, description="One log line per request (uvicorn's access log, KServe's timings)."
    )
    feature_metrics: bool = Field(
        True, description="Export per-feature input summaries (drift) on /metrics."
    )
    fault_injection: bool = Field(
        False,
        description="TEST/DEMO ONLY: allow fault_error_rate and fault_latency_ms. Read from the "
        "config file only; SLIPWAY_SERVING__FAULT_* variables are ignored, so no deployment's "
        "environment can turn faults on.",
    )
    fault_error_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description="TEST ONLY: fraction of predict requests answered HTTP 500 on purpose "
        "(exercises rollback); needs fault_injection. Config file only.",
    )
    fault_latency_ms: float = Field(
        0.0,
        ge=0,
        description="TEST ONLY: latency added to every predict request, in milliseconds; "
        "needs fault_injection. Config file only.",
    )

    @model_validator(mode="after")
    def _faults_need_the_switch(self) -> ServingSettings:
        if not self.fault_injection and (self.fault_error_rate or self.fault_latency_ms):
            raise ValueError(
                "fault_error_rate and fault_latency_ms are test-only: they need "
                "serving.fault_injection: true in the same config file"
            )
        return self

"""Settings of monitoring: payload recording, drift, retraining from an alert."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from slipway.config.base import _Section


class PayloadSettings(_Section):
    """What the predictor records of what it serves (slipway.serving.payload_log)."""

    sample_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of requests recorded (inputs, scores, version, time); 0 turns "
        "recording off.",
    )
    directory: Path | None = Field(
        None, description="Where the rotating files go; none: payloads/ in the state folder."
    )
    max_file_bytes: int = Field(
        16 * 1024 * 1024, ge=4096, description="A file is closed and a new one opened past this."
    )
    max_files: int = Field(
        64, ge=1, description="Closed files kept per model version; the oldest go first."
    )
    flush_seconds: float = Field(
        1.0, gt=0, description="How often the background writer drains what was recorded."
    )
    upload_uri: str | None = Field(
        None,
        description="s3://bucket/prefix: closed files are uploaded there and removed locally "
        "(the cluster's datasets bucket); none keeps them in the folder.",
    )


class DriftSettings(_Section):
    """The drift step on served payloads (slipway.monitoring.drift)."""

    window_hours: float = Field(24, gt=0, description="Served rows of this many past hours.")
    min_rows: int = Field(
        200, ge=1, description="Fewer served rows than this are reported as too little data."
    )
    num_method: str | None = Field(
        None, description="Evidently's method for numeric columns; none: Evidently's default."
    )
    cat_method: str | None = Field(
        None, description="Evidently's method for categorical columns; none: its default."
    )
    per_column_method: dict[str, str] = Field(
        default_factory=dict, description="Evidently's method for named columns (wins)."
    )
    drift_share: float = Field(
        0.5, gt=0, le=1, description="Drifted share of columns at which the data has drifted."
    )
    include_scores: bool = Field(
        True, description="Compare the served scores too (against the reference's, re-scored)."
    )


class RetrainingSettings(_Section):
    """slipway's alert receiver (slipway.monitoring.receiver): retraining from an alert."""

    alerts: list[str] = Field(
        default_factory=lambda: ["SlipwayDriftDetected"],
        description="Alert names that start a retraining.",
    )
    cooldown_seconds: float = Field(
        3600, ge=0, description="After a retraining starts, alerts for that model wait this long."
    )
    target: str | None = Field(
        None, description="Run the training workflow only up to this task (none: all of it)."
    )


class MonitoringSettings(_Section):
    """Payload recording, the drift step, its metrics and retraining from an alert."""

    payloads: PayloadSettings = PayloadSettings()
    drift: DriftSettings = DriftSettings()
    retraining: RetrainingSettings = RetrainingSettings()
    pushgateway_url: str | None = Field(
        None, description="Where the drift step pushes its metrics; none: the local stack's."
    )

"""The drift step: one window of a model version's served rows, judged and reported.

1. the served rows of the last ``monitoring.drift.window_hours`` (slipway.monitoring.payloads);
2. the version's training reference through lineage, with its scores
   (slipway.monitoring.reference);
3. Evidently's verdict (slipway.monitoring.drift), its HTML report and the JSON summary
   logged to MLflow on the version's run under ``drift/<UTC time>/``;
4. with ground truth, live quality per version (slipway.monitoring.live);
5. every figure pushed to the Pushgateway (slipway.monitoring.pushgateway).

The version defaults to the one in service (the ``champion`` alias).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from mlflow.tracking import MlflowClient

from slipway.config import Settings
from slipway.data import tables
from slipway.data.storage import DataUri
from slipway.errors import TrackingError
from slipway.monitoring import drift, live, payloads, pushgateway, reference
from slipway.registry import aliases
from slipway.serving.payload_log import default_directory


@dataclass(frozen=True)
class DriftOutcome:
    report: drift.DriftReport
    run_id: str
    artifact_dir: str | None
    quality: live.LiveQuality | None

    def summary(self) -> dict[str, object]:
        return {
            **self.report.model_dump(mode="json"),
            "summary": self.report.summary(),
            "run_id": self.run_id,
            "artifacts": self.artifact_dir,
            "live": None
            if self.quality is None
            else {"labelled_rows": self.quality.labelled_rows, **self.quality.metrics},
        }


def serving_version(client: MlflowClient, model: str) -> str:
    champion = aliases.version_by_alias(client, model, aliases.CHAMPION)
    if champion is None:
        raise TrackingError(f"{model} has no {aliases.CHAMPION} version: nothing is served")
    return str(champion.version)


def served_rows(settings: Settings, model: str, version: str, since: float) -> pd.DataFrame:
    """The recorded rows: from the bucket when payloads are uploaded, else the folder."""
    p = settings.monitoring.payloads
    if p.upload_uri:
        return payloads.read_s3(p.upload_uri, model, version, since)
    return payloads.read_folder(p.directory or default_directory(), model, version, since)


def run(
    client: MlflowClient,
    settings: Settings,
    *,
    version: str | None = None,
    pushgateway_url: str | None = None,
    labels: DataUri | None = None,
    served: pd.DataFrame | None = None,
    now: float | None = None,
) -> DriftOutcome:
    """Judge the served window of ``version`` (default: the champion) and report it."""
    model = settings.tracking.model_name
    version = version or serving_version(client, model)
    now = time.time() if now is None else now
    d = settings.monitoring.drift
    if served is None:
        served = served_rows(settings, model, version, now - d.window_hours * 3600)
    ref = reference.for_version(client, model, version)
    columns = [*ref.numeric, *ref.categorical]
    # The task's score columns: a multiclass model's predicted class too, since a shift
    # between classes predicted with the same confidence leaves the score's shape alone.
    score_numeric, score_categorical = drift.score_columns(ref.task)
    scores = [*score_numeric, *score_categorical] if d.include_scores else []
    numeric = [*ref.numeric, *(score_numeric if d.include_scores else ())]
    categorical = [*ref.categorical, *(score_categorical if d.include_scores else ())]
    current = served.reindex(columns=[*columns, *scores]) if len(served) else served
    report, html = drift.compare(
        ref.frame, current, numeric, categorical, d, model=model, version=version
    )
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    artifact_dir = f"drift/{stamp}"
    client.log_text(
        ref.run_id,
        json.dumps(report.model_dump(mode="json"), indent=2),
        f"{artifact_dir}/drift.json",
    )
    if html is not None:
        client.log_text(ref.run_id, html, f"{artifact_dir}/report.html")
        assert report.drift_share is not None
        client.log_metric(ref.run_id, "drift_share", report.drift_share, timestamp=int(now * 1000))
    quality = None
    if labels is not None:
        label = settings_label(settings)
        quality = live.live_quality(served, tables.read_table(labels), label, ref.task)
    if pushgateway_url:
        pushgateway.push(pushgateway_url, pushgateway.drift_registry(report, now), model, version)
        if quality is not None:
            pushgateway.push(
                pushgateway_url,
                pushgateway.quality_registry(
                    model, version, quality.labelled_rows, quality.metrics
                ),
                model,
                version,
                job=pushgateway.QUALITY_JOB,
            )
    return DriftOutcome(report, ref.run_id, artifact_dir, quality)


def settings_label(settings: Settings) -> str:
    from slipway.data.contract import load_contract

    return load_contract(Path(settings.data.contract)).label

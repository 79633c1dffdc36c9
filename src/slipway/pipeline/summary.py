"""The human-readable summary printed at the end of a pipeline run."""

from __future__ import annotations

from slipway.config import Settings
from slipway.pipeline.steps import PipelineResult


def render_summary(result: PipelineResult, settings: Settings, tracking_uri: str) -> str:
    name = settings.tracking.model_name
    lines = [
        "",
        "slipway pipeline summary",
        "------------------------",
        f"data           {result.report.rows} rows, {result.report.digest}",
        f"validation     {'passed' if result.report.passed else 'FAILED'}",
        f"mlflow run     {result.run_id}",
    ]
    decision = result.decision
    if decision is not None:
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in decision.challenger.as_dict().items())
        lines.append(f"test metrics   {metrics}")
        if decision.champion is not None:
            champ = ", ".join(f"{k} {v:.4f}" for k, v in decision.champion.as_dict().items())
            lines.append(f"champion       {champ}")
        verdict = "passed" if decision.passed else "FAILED: " + "; ".join(decision.reasons)
        lines.append(f"gate           {verdict}")
    reg = result.registration
    if reg is not None:
        aliases = "challenger, champion (first model)" if reg.became_champion else "challenger"
        lines.append(f"registered     {reg.name} version {reg.version} -> {aliases}")
    else:
        lines.append("registered     nothing (the gate did not pass)")
    base = tracking_uri.rstrip("/")
    if base.startswith("http"):
        lines += [
            "",
            "where to look",
            f"  run            {base}/#/experiments/-/runs/{result.run_id}",
            f"  model          {base}/#/models/{name}",
        ]
    return "\n".join(lines)

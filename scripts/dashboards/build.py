"""slipway's Grafana dashboards, as code (grafana-foundation-sdk), rendered to the JSON files
the platform-monitoring chart ships in ConfigMaps.

    .venv/bin/python scripts/dashboards/build.py           # rewrite the JSON files
    .venv/bin/python scripts/dashboards/build.py --check   # exit 1 when a file is stale

Every dashboard has the variables datasource, model and version. The queries read the
predictor's metrics (slipway.serving.telemetry), the recording rules of
charts/platform-monitoring/files/rules/, the drift step's Pushgateway metrics
(slipway.monitoring.pushgateway), Argo Workflows', MLflow's and DCGM's metrics.
"""

# PromQL reads best unbroken: long query strings are kept on one line.
# ruff: noqa: E501

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    VariableRefresh,
    VariableSort,
)

OUT = Path(__file__).resolve().parents[2] / "charts/platform-monitoring/files/dashboards"
DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
#: The label selectors of the model and version variables: the predictor's labels and the
#: drift step's (it pushes `model` and `version`).
SERVED = 'model_name=~"$model", model_version=~"$version"'
DRIFTED = 'model=~"$model", version=~"$version"'
REQ = "slipway_inference_requests_total"
LAT = "slipway_inference_request_duration_seconds_bucket"
RI = "$__rate_interval"


def query(expr: str, legend: str, ref: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DS)


def series(
    title: str, unit: str, *queries: tuple[str, str], description: str = ""
) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).datasource(DS).height(8).span(12)
    if description:
        panel = panel.description(description)
    for i, (expr, legend) in enumerate(queries):
        panel = panel.with_target(query(expr, legend, chr(ord("A") + i)))
    return panel


def single(title: str, unit: str, expr: str, legend: str = "") -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .unit(unit)
        .datasource(DS)
        .height(4)
        .span(6)
        .with_target(query(expr, legend))
    )


def base(
    uid: str, title: str, description: str, model_metric: str, model_label: str, version_label: str
) -> dash.Dashboard:
    datasource = dash.DatasourceVariable("datasource").label("Data source").type("prometheus")
    model = (
        dash.QueryVariable("model")
        .label("Model")
        .datasource(DS)
        .query(f"label_values({model_metric}, {model_label})")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )
    version = (
        dash.QueryVariable("version")
        .label("Version")
        .datasource(DS)
        .query(f'label_values({model_metric}{{{model_label}=~"$model"}}, {version_label})')
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.NUMERICAL_DESC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )
    return (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["slipway"])
        .editable()
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("utc")
        .with_variable(datasource)
        .with_variable(model)
        .with_variable(version)
    )


def serving() -> dash.Dashboard:
    by = "model_name, model_version"
    rate = f"sum by ({by}) (rate({REQ}{{{SERVED}}}[{RI}]))"
    return (
        base(
            "slipway-serving",
            "slipway / serving",
            "Requests, errors and latency of every served model version, the canary's share "
            "and how the versions' predictions agree.",
            "slipway_model_info",
            "model_name",
            "model_version",
        )
        .with_row(dash.Row("Traffic"))
        .with_panel(
            series("Requests by version", "reqps", (rate, "{{model_name}} v{{model_version}}"))
        )
        .with_panel(
            series(
                "Server errors (5xx) by version",
                "percentunit",
                (
                    f'sum by ({by}) (rate({REQ}{{{SERVED}, code=~"5.."}}[{RI}])) / {rate}',
                    "{{model_name}} v{{model_version}}",
                ),
                description="The availability SLO: 99.9% of requests without a server error.",
            )
        )
        .with_panel(
            series(
                "Latency p50 and p99 by version",
                "s",
                (
                    f"histogram_quantile(0.5, sum by ({by}, le) (rate({LAT}{{{SERVED}}}[{RI}])))",
                    "p50 {{model_name}} v{{model_version}}",
                ),
                (
                    f"histogram_quantile(0.99, sum by ({by}, le) (rate({LAT}{{{SERVED}}}[{RI}])))",
                    "p99 {{model_name}} v{{model_version}}",
                ),
                description="The latency SLO: p99 under 200 ms.",
            )
        )
        .with_panel(
            series(
                "Canary share (requests per version of a model)",
                "percentunit",
                (
                    f"{rate} / on (model_name) group_left () "
                    f'sum by (model_name) (rate({REQ}{{model_name=~"$model"}}[{RI}]))',
                    "{{model_name}} v{{model_version}}",
                ),
            )
        )
        .with_row(dash.Row("Agreement of the versions"))
        .with_panel(
            series(
                "Mean predicted score by version",
                "percentunit",
                (
                    f"sum by ({by}) (rate(slipway_prediction_score_sum{{{SERVED}}}[{RI}])) / "
                    f"sum by ({by}) (rate(slipway_prediction_score_count{{{SERVED}}}[{RI}]))",
                    "{{model_name}} v{{model_version}}",
                ),
                description="Champion and canary see the same traffic mix: their mean scores "
                "should agree.",
            )
        )
        .with_panel(
            series(
                "Positive predictions (score > 0.5) by version",
                "percentunit",
                (
                    f'1 - sum by ({by}) (rate(slipway_prediction_score_bucket{{{SERVED}, le="0.5"}}[{RI}])) / '
                    f"sum by ({by}) (rate(slipway_prediction_score_count{{{SERVED}}}[{RI}]))",
                    "{{model_name}} v{{model_version}}",
                ),
            )
        )
        .with_row(dash.Row("SLO burn"))
        .with_panel(
            series(
                "Error budget burn rate (1h)",
                "short",
                (
                    'slipway_model:slo_errors:ratio_rate1h{model_name=~"$model"} / on (namespace, model_name) '
                    "slipway_model:slo_error_budget:ratio",
                    "availability {{model_name}}",
                ),
                (
                    'slipway_model:slo_latency_slow:ratio_rate1h{model_name=~"$model"} / 0.01',
                    "latency {{model_name}}",
                ),
                description="1 spends the budget in exactly 30 days; the page fires at 14.4.",
            )
        )
        .with_panel(
            series(
                "Input feature means by version",
                "short",
                (
                    f"sum by ({by}, feature) (rate(slipway_feature_value_sum{{{SERVED}}}[{RI}])) / "
                    f"sum by ({by}, feature) (rate(slipway_feature_value_count{{{SERVED}}}[{RI}]))",
                    "{{feature}} v{{model_version}}",
                ),
            )
        )
    )


def rollout() -> dash.Dashboard:
    sel = 'model_name=~"$model", model_version=~"$version"'
    return (
        base(
            "slipway-rollout",
            "slipway / rollout",
            "What the rollout judges (per-version requests, error rate and p99 over 5 minutes), "
            "the versions serving over time (promotions and rollbacks) and the rollout alerts.",
            "slipway_model_info",
            "model_name",
            "model_version",
        )
        .with_panel(
            series(
                "Requests by version (5m)",
                "reqps",
                (f"slipway_model_version:requests:rate5m{{{sel}}}", "v{{model_version}}"),
            )
        )
        .with_panel(
            series(
                "Error rate by version (5m)",
                "percentunit",
                (f"slipway_model_version:errors:ratio_rate5m{{{sel}}}", "v{{model_version}}"),
                description="The rollout rolls back above the champion's + 1 point.",
            )
        )
        .with_panel(
            series(
                "p99 latency by version (5m)",
                "s",
                (
                    f"slipway_model_version:latency_seconds:p99_rate5m{{{sel}}}",
                    "v{{model_version}}",
                ),
                description="The rollout rolls back above 1.5x the champion's.",
            )
        )
        .with_panel(
            series(
                "Versions serving (promotions and rollbacks)",
                "short",
                (
                    f"count by (model_name, model_version) (slipway_model_info{{{sel}}})",
                    "{{model_name}} v{{model_version}}",
                ),
            )
        )
        .with_panel(
            series(
                "Local router weights",
                "percentunit",
                (
                    'slipway_router_backend_weight{model_version=~"$version"}',
                    "{{backend}} v{{model_version}}",
                ),
                description="The local stack's router; on the cluster KServe's "
                "canaryTrafficPercent is in the model-serving values.",
            )
        )
        .with_panel(
            series(
                "Rollout alerts",
                "short",
                (
                    'sum by (alertname, model_name, model_version) (ALERTS{alertname=~"'
                    'SlipwayCanaryAnalysisFailing|SlipwayRolloutStuck", alertstate="firing", '
                    'model_name=~"$model"})',
                    "{{alertname}} {{model_name}} {{model_version}}",
                ),
            )
        )
    )


def drift() -> dash.Dashboard:
    return (
        base(
            "slipway-drift",
            "slipway / drift",
            "What the drift step found on served traffic (Evidently against the version's "
            "training reference), per feature and over time, and live quality from ground truth.",
            "slipway_drift_rows",
            "model",
            "version",
        )
        .with_panel(single("Drift detected", "bool", f"max(slipway_drift_detected{{{DRIFTED}}})"))
        .with_panel(
            single(
                "Drifted share of columns", "percentunit", f"max(slipway_drift_share{{{DRIFTED}}})"
            )
        )
        .with_panel(single("Rows in the window", "short", f"sum(slipway_drift_rows{{{DRIFTED}}})"))
        .with_panel(
            single(
                "Since the last drift run",
                "s",
                f"time() - max(slipway_drift_last_run_timestamp_seconds{{{DRIFTED}}})",
            )
        )
        .with_panel(
            series(
                "Drifted share over time",
                "percentunit",
                (f"slipway_drift_share{{{DRIFTED}}}", "{{model}} v{{version}}"),
            )
        )
        .with_panel(
            series(
                "Drift score per feature",
                "short",
                (f"slipway_feature_drift_score{{{DRIFTED}}}", "{{feature}} v{{version}}"),
                description="Evidently's per-column score: a p-value or a distance, "
                "by the column's method.",
            )
        )
        .with_panel(
            series(
                "Drifted features",
                "short",
                (f"slipway_feature_drifted{{{DRIFTED}}} == 1", "{{feature}} v{{version}}"),
            )
        )
        .with_panel(
            series(
                "Too little data to judge",
                "bool",
                (f"slipway_drift_insufficient_data{{{DRIFTED}}}", "{{model}} v{{version}}"),
            )
        )
        .with_panel(
            series(
                "Live metric (ground truth)",
                "short",
                (f"slipway_live_metric{{{DRIFTED}}}", "{{metric}} {{model}} v{{version}}"),
                (f"slipway_live_labelled_rows{{{DRIFTED}}}", "labelled rows v{{version}}"),
            )
        )
    )


def workflow_namespace(expr: str) -> str:
    """``expr`` with the workflow's namespace as ``workflow_namespace``: Argo's own label, or
    exported_namespace when the scrape's namespace label (the controller's) took its place."""
    inner = f'label_replace({expr}, "workflow_namespace", "$1", "namespace", "(.*)")'
    return f'label_replace({inner}, "workflow_namespace", "$1", "exported_namespace", "(.+)")'


def pipelines() -> dash.Dashboard:
    entered = workflow_namespace("increase(argo_workflows_total_count[1h])")
    failed = workflow_namespace('increase(argo_workflows_total_count{phase=~"Failed|Error"}[15m])')
    return (
        base(
            "slipway-pipelines",
            "slipway / pipelines",
            "Training workflows (Argo Workflows' controller metrics) and the failure alert.",
            "slipway_model_info",
            "model_name",
            "model_version",
        )
        .with_panel(
            series(
                "Workflows entering each phase (1h)",
                "short",
                (
                    f"sum by (workflow_namespace, phase) ({entered})",
                    "{{workflow_namespace}} {{phase}}",
                ),
            )
        )
        .with_panel(
            series(
                "Failed workflows (15m)",
                "short",
                (
                    f"sum by (workflow_namespace) ({failed})",
                    "{{workflow_namespace}}",
                ),
            )
        )
        .with_panel(
            series(
                "Pipeline alerts",
                "short",
                (
                    'sum by (alertname, workflow_namespace) (ALERTS{alertname="SlipwayTrainingPipelineFailed", '
                    'alertstate="firing"})',
                    "{{workflow_namespace}}",
                ),
            )
        )
    )


def platform() -> dash.Dashboard:
    return (
        base(
            "slipway-platform",
            "slipway / platform",
            "MLflow, Argo Workflows and the GPUs, and every slipway alert firing.",
            "slipway_model_info",
            "model_name",
            "model_version",
        )
        .with_panel(
            series(
                "MLflow up", "short", ('up{namespace="mlflow", service="mlflow"}', "{{instance}}")
            )
        )
        .with_panel(
            series(
                "MLflow requests by status",
                "reqps",
                (
                    f'sum by (status) (rate(flask_http_request_total{{namespace="mlflow"}}[{RI}]))',
                    "{{status}}",
                ),
            )
        )
        .with_panel(
            series(
                "Argo Workflows controller up",
                "short",
                ('up{job=~".*argo-workflows.*"}', "{{instance}}"),
            )
        )
        .with_panel(
            series(
                "GPU utilisation", "percent", ("DCGM_FI_DEV_GPU_UTIL", "{{Hostname}} gpu {{gpu}}")
            )
        )
        .with_panel(
            series(
                "GPU memory used", "decmbytes", ("DCGM_FI_DEV_FB_USED", "{{Hostname}} gpu {{gpu}}")
            )
        )
        .with_panel(
            series(
                "Pending GPU pods",
                "short",
                (
                    'sum(max by (namespace, pod) (kube_pod_container_resource_requests{resource="nvidia_com_gpu"}) '
                    '* on (namespace, pod) max by (namespace, pod) (kube_pod_status_phase{phase="Pending"} == 1))',
                    "GPUs requested by pending pods",
                ),
            )
        )
        .with_panel(
            series(
                "slipway alerts firing",
                "short",
                (
                    'sum by (alertname, severity) (ALERTS{alertname=~"Slipway.*", alertstate="firing"})',
                    "{{alertname}} ({{severity}})",
                ),
            )
        )
    )


DASHBOARDS: dict[str, Callable[[], dash.Dashboard]] = {
    "slipway-serving": serving,
    "slipway-rollout": rollout,
    "slipway-drift": drift,
    "slipway-pipelines": pipelines,
    "slipway-platform": platform,
}


def render() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {
        f"{name}.json": json.dumps(build().build(), cls=JSONEncoder, indent=2, sort_keys=True)
        + "\n"
        for name, build in DASHBOARDS.items()
    }


def main(argv: list[str]) -> int:
    rendered = render()
    stale = sorted(
        name
        for name, text in rendered.items()
        if not (OUT / name).exists() or (OUT / name).read_text(encoding="utf-8") != text
    )
    extra = sorted(p.name for p in OUT.glob("*.json") if p.name not in rendered)
    if "--check" in argv:
        for name in stale + extra:
            print(f"stale: {OUT / name} (run scripts/dashboards/build.py)")
        return 1 if stale or extra else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (OUT / name).write_text(rendered[name], encoding="utf-8")
    for name in extra:
        (OUT / name).unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

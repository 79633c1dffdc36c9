"""The drift monitor's step: judge the latest data, or what the champion served, against
the data it was trained on, and say whether to retrain."""

# No `from __future__ import annotations` here: Hera reads the step functions'
# annotations as objects (Annotated[str, Parameter(...)]), not as strings.
from typing import Annotated

from hera.workflows import Parameter

from slipway.workflow.templates.common import step, step_runtime


@step(cpu=("500m", "2"), memory=("1Gi", "4Gi"))
def check_drift(
    data: Annotated[str, Parameter(description="The latest data.")],
    reference: Annotated[str, Parameter(description="The data the champion was trained on.")],
    config: str = "",
) -> tuple[
    Annotated[str, Parameter(name="drift", description="true when a distribution drifted")],
    Annotated[str, Parameter(name="drifted-columns", description="comma-separated")],
]:
    """`slipway data validate DATA --reference REF`, with drift told apart from breakage.

    The command's exit status is 1 for drift, for a broken contract and for an unreadable
    file alike; only drift should start retraining. Data that breaks the contract fails
    this step instead (on-call sees a failed run), and retraining is not started.

    With ``data`` empty, what the champion served is judged instead (slipway.monitoring:
    the recorded payloads against the version's training reference, found through
    lineage; Evidently; the report on the version's run; metrics to the Pushgateway). Too
    little served data is not drift: nothing is retrained.
    """
    from slipway.data import tables
    from slipway.data.contract import load_contract
    from slipway.data.validation import validate
    from slipway.errors import DataError, StackError

    if not data:
        from slipway.monitoring import step

        rt = step_runtime(config)
        try:
            pushgateway: str | None = rt.pushgateway_url()
        except StackError as exc:
            print(f"metrics not pushed: {exc}")
            pushgateway = None
        outcome = step.run(rt.mlflow, rt.settings, pushgateway_url=pushgateway)
        print(outcome.report.summary())
        return str(outcome.report.detected).lower(), ",".join(outcome.report.drifted_columns)
    settings = step_runtime(config).settings
    frame = tables.read_table(data)
    report = validate(
        frame,
        load_contract(settings.data.contract),
        settings.validation,
        tables.table_digest(frame),
        tables.read_table(reference),
    )
    print(report.to_table())
    if report.findings:
        raise DataError("the latest data breaks its contract: " + "; ".join(report.failures))
    drifted = sorted({check.column for check in report.drift if not check.passed})
    return str(bool(drifted)).lower(), ",".join(drifted)

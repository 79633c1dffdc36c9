"""Drift and live-quality metrics to the Prometheus Pushgateway, from the batch drift step.

The metric names (the contract the alert rules and dashboards read; keep them stable):

- ``slipway_drift_share{model, version}``: the share of columns Evidently finds drifted, 0..1.
- ``slipway_drift_detected{model, version}``: 1 when the drifted share reaches
  ``monitoring.drift_share_threshold``, else 0.
- ``slipway_feature_drift_score{model, version, feature}``: Evidently's per-column drift score
  (a p-value or a distance, depending on the column's method).
- ``slipway_feature_drifted{model, version, feature}``: 1 when that column drifted, else 0.
- ``slipway_drift_rows{model, version}``: how many served rows the window held.
- ``slipway_drift_insufficient_data{model, version}``: 1 when the window held too few rows to
  judge (then no drift share is pushed: too little data is never "no drift").
- ``slipway_drift_last_run_timestamp_seconds{model, version}``: when the step last ran.
- ``slipway_live_metric{model, version, metric}``: the task's metric on served rows joined with
  ground truth (``metric`` is e.g. ``accuracy`` or ``roc_auc``).
- ``slipway_live_labelled_rows{model, version}``: how many served rows had ground truth.

All are gauges pushed under job ``slipway-drift`` and grouping key ``model``/``version``, so a
push for one version replaces only that version's series.
"""

"""The demo's HTML report: one self-contained file, its figures inline (PNG, base64).

Per rollout: each version's traffic share, server-error rate and p99 latency over time,
and the two versions' score distributions (Prometheus, timeline.py); then every step's
decision with its statistics (the rollout's record). A small inline script marks each
figure that the browser decoded (``data-rendered``), so a headless browser's DOM says
whether the figures rendered (tests/demo).
"""

from __future__ import annotations

import base64
import html
import io
import json
from typing import Any

from slipway.demo.runs import RunRecord
from slipway.demo.timeline import Series, Timeline

_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 1100px; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
.figures { display: flex; flex-wrap: wrap; gap: 8px; }
img.figure { border: 1px solid #ddd; }
.promoted { color: #1a7f37; } .rolled_back { color: #cf222e; }
"""
_MARK = """
function mark(img) { img.dataset.rendered = img.naturalWidth > 0 ? "yes" : "no"; }
document.querySelectorAll("img.figure").forEach(function (img) {
  if (img.complete) { mark(img); } else {
    img.addEventListener("load", function () { mark(img); });
    img.addEventListener("error", function () { mark(img); });
  }
});
"""


def _png(figure: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def _img(data: str, alt: str) -> str:
    return f'<img class="figure" alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _role(version: str, record: RunRecord) -> str:
    outcome = record.outcome
    if outcome is not None and version == outcome.version:
        return f"canary v{version}"
    if outcome is not None and version == outcome.champion_before:
        return f"champion v{version}"
    return f"v{version}"


def _over_time(series: Series, timeline: Timeline, record: RunRecord, title: str, unit: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5, 2.6))
    for version, points in sorted(series.items()):
        if points:
            axes.plot([t - timeline.start for t, _ in points], [v for _, v in points],
                      label=_role(version, record))  # fmt: skip
    outcome = record.outcome
    if outcome is not None:
        for step in outcome.steps:
            axes.axvline(step.started_at - timeline.start, color="#999", lw=0.6, ls="--")
    axes.set_title(title, fontsize=10)
    axes.set_xlabel("seconds since the rollout began", fontsize=8)
    axes.set_ylabel(unit, fontsize=8)
    if series:
        axes.legend(fontsize=7)
    return _img(_png(figure), title)


def _scores(timeline: Timeline, record: RunRecord) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5, 2.6))
    versions = sorted(timeline.scores)
    width = 0.8 / max(1, len(versions))
    for index, version in enumerate(versions):
        buckets = timeline.scores[version]
        total = sum(c for _, c in buckets) or 1.0
        axes.bar([i + index * width for i in range(len(buckets))], [c / total for _, c in buckets],
                 width=width, label=_role(version, record))  # fmt: skip
        axes.set_xticks(range(len(buckets)), [f"{le:g}" for le, _ in buckets], fontsize=6)
    axes.set_title("prediction scores (share per bucket, by upper bound)", fontsize=10)
    if versions:
        axes.legend(fontsize=7)
    return _img(_png(figure), "score distributions")


def _figures(record: RunRecord) -> str:
    timeline = record.timeline
    if timeline is None:
        return "".join(f"<p>{html.escape(n)}</p>" for n in record.notes if "figures" in n)
    parts = [
        _over_time(timeline.share, timeline, record, "traffic share", "share of requests"),
        _over_time(timeline.error_rate, timeline, record, "server-error rate", "errors / requests"),
        _over_time(timeline.p99_ms, timeline, record, "p99 latency", "ms"),
        _scores(timeline, record),
    ]
    return f'<div class="figures">{"".join(parts)}</div>'


def _steps(record: RunRecord) -> str:
    outcome = record.outcome
    if outcome is None:
        return ""
    rows = ["<tr><th>step</th><th>decision</th><th>outcome</th><th>canary</th>"
            "<th>champion</th><th>statistics</th><th>why</th></tr>"]  # fmt: skip
    for step in outcome.steps:
        stats = "<br>".join(
            html.escape(
                f"{m.get('metric')}: {m.get('outcome')} ({m.get('test', '')} "
                f"statistic {m.get('statistic')}, p {m.get('p_value')})"
            )
            for m in step.measurements
        )
        rows.append(
            f"<tr><td>{step.percent}%</td><td>{html.escape(step.decision)}</td>"
            f"<td>{html.escape(step.outcome)}</td><td>{html.escape(json.dumps(step.canary))}</td>"
            f"<td>{html.escape(json.dumps(step.champion))}</td><td>{stats}</td>"
            f"<td>{html.escape(step.reason)}</td></tr>"
        )
    return f"<table>{''.join(rows)}</table>"


def _run(record: RunRecord) -> str:
    facts = {k: v for k, v in record.facts.items() if v not in (None, "", [])}
    if record.load is not None:
        facts["load"] = f"sent {record.load.sent}, ok {record.load.ok}, errors {record.load.errors}"
    items = "".join(
        f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>" for k, v in facts.items()
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in record.notes)
    return (
        f'<section id="run-{record.number}"><h2>Run {record.number}: {html.escape(record.title)}'
        f'</h2><p class="{html.escape(record.decision)}"><b>{html.escape(record.decision)}</b>: '
        f"{html.escape(record.why)}</p><ul>{items}{notes}</ul>"
        f"{_figures(record)}{_steps(record)}</section>"
    )


def render(records: list[RunRecord], model: str) -> str:
    summary = "".join(
        f"<tr><td>{r.number}</td><td>{html.escape(r.title)}</td><td>{r.version or '-'}</td>"
        f"<td>{r.champion_before or '-'} &rarr; {r.champion_after or '-'}</td>"
        f"<td>{html.escape(r.decision)}</td><td>{html.escape(r.why)}</td></tr>"
        for r in records
    )
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>slipway demo: {html.escape(model)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>slipway demo: {html.escape(model)}</h1>"
        "<table><tr><th>run</th><th>what</th><th>version</th><th>champion</th>"
        f"<th>decision</th><th>why</th></tr>{summary}</table>"
        f"{''.join(_run(r) for r in records)}<script>{_MARK}</script></body></html>"
    )

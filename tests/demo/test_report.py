"""The demo's HTML report, opened in headless Chromium: it renders, with its figures.

The records are built here (a promoted rollout and a rolled-back one, with figures as
Prometheus would give them); the rendering, the browser and the check are the real ones.
"""

from __future__ import annotations

import base64
import re
import shutil
from pathlib import Path

import pytest

from slipway.demo import report
from slipway.demo.loop import summary_table
from slipway.demo.runs import RunRecord
from slipway.demo.timeline import Timeline
from slipway.rollout.load import LoadCounts
from slipway.rollout.outcome import RolloutOutcome, StepRecord

from .chromium_check import CHROMIUM, check_report

pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None and not Path(CHROMIUM).exists(),
    reason="chromium is not installed (.ci/setup.sh installs it)",
)


def _timeline(start: float, canary: str) -> Timeline:
    times = [start + i for i in range(20)]
    t = Timeline(start, start + 20)
    t.share = {"1": [(x, 1.0 if i < 5 else 0.75) for i, x in enumerate(times)],
               canary: [(x, 0.25) for x in times[5:]]}  # fmt: skip
    t.error_rate = {"1": [(x, 0.0) for x in times], canary: [(x, 0.02) for x in times[5:]]}
    t.p99_ms = {"1": [(x, 9.0) for x in times], canary: [(x, 11.0) for x in times[5:]]}
    t.scores = {v: [(b / 10, float(10 + b * (2 if v == canary else 1))) for b in range(1, 11)]
                for v in ("1", canary)}  # fmt: skip
    return t


def records() -> list[RunRecord]:
    first = RunRecord(1, "first model", "1", "champion", "the first", None, "1")
    second = RunRecord(2, "more data", "2", "promoted", "every step passed", "1", "2")
    outcome = RolloutOutcome("churn-classifier", "2", "1", decision="promoted", started_at=100)
    outcome.steps = [StepRecord(25, 105, "promote", "passed", outcome="pass", measurements=[
        {"metric": "error_rate", "outcome": "pass", "test": "fisher_exact", "statistic": 1.0,
         "p_value": 0.5}])]  # fmt: skip
    second.outcome, second.timeline = outcome, _timeline(100, "2")
    second.load = LoadCounts(sent=400, ok=400)
    third = RunRecord(3, "failing", "3", "rolled_back", "error rate <high>", "2", "2")
    third.outcome = RolloutOutcome("churn-classifier", "3", "2", decision="rolled_back")
    third.timeline = _timeline(200, "3")
    return [first, second, third]


def test_the_report_renders_with_its_figures(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(report.render(records(), "churn-classifier"), encoding="utf-8")
    result = check_report(page, tmp_path, min_figures=8)
    assert result.problems == [], result
    assert result.figures == result.rendered == 8  # 4 per rollout
    html = page.read_text()
    assert "<script src=" not in html and "http" not in html.split("<script>")[0]  # self-contained
    assert "error rate &lt;high&gt;" in html  # text is escaped


def test_a_broken_figure_fails_the_check(tmp_path: Path) -> None:
    html = report.render(records(), "churn-classifier")
    first = re.search(r"base64,([A-Za-z0-9+/=]+)", html)
    assert first is not None
    garbage = base64.b64encode(b"not a png at all").decode()
    page = tmp_path / "broken.html"
    page.write_text(html.replace(first.group(1), garbage, 1), encoding="utf-8")
    result = check_report(page, tmp_path, min_figures=8)
    assert result.broken == ["traffic share"], result
    assert any("not rendered" in p for p in result.problems)


def test_a_blank_page_fails_the_check(tmp_path: Path) -> None:
    page = tmp_path / "blank.html"
    page.write_text("<!doctype html><html><body></body></html>", encoding="utf-8")
    result = check_report(page, tmp_path, min_figures=1)
    assert any("blank" in p for p in result.problems), result
    assert any("0 figures" in p for p in result.problems)


def test_the_summary_table_names_runs_versions_and_decisions() -> None:
    table = summary_table(records()).splitlines()
    assert table[0].split()[:3] == ["run", "what", "version"]
    assert "1 -> 2" in table[3] and "promoted" in table[3]
    assert table[4].rstrip().endswith("error rate <high>")

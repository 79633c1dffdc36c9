"""The alert rules: promtool's syntax check and unit tests (input series for every alert,
firing and not firing), the alerts' metadata and runbooks, the model-serving chart's per-model
rules and the local stack's rules file. promtool is the real one (Debian's prometheus
package); each check is also shown to fail on a bad fixture."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import oncall_checks as checks

from tests.charts.chart_render import build_charts, render
from tests.podman_support import load_script

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
CHART_RULES = sorted(checks.RULES.glob("*.yaml"))
TEST_FILES = sorted(checks.PROMTOOL_TESTS.glob("*.test.yaml"))

pytestmark = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")


def promtool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", *map(str, args)], capture_output=True, text=True, check=False, cwd=cwd
    )


@pytest.fixture(scope="module")
def model_serving_rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The model-serving chart's PrometheusRule for two models, as a plain rules file."""
    root = tmp_path_factory.mktemp("model-serving")
    charts = build_charts(root)
    result = render(
        charts / "model-serving", "model-serving", FIXTURES / "model-serving-values.yaml"
    )
    assert result.returncode == 0, result.stderr
    (rule,) = [d for d in yaml.safe_load_all(result.stdout) if d and d["kind"] == "PrometheusRule"]
    path = root / "model-serving-rules.yaml"
    path.write_text(yaml.safe_dump(rule["spec"]), encoding="utf-8")
    return path


def all_groups(model_serving_rules: Path) -> list[dict[str, Any]]:
    return [g for p in [*CHART_RULES, model_serving_rules] for g in checks.load_groups(p)]


def test_every_rule_file_passes_promtool_check(model_serving_rules: Path) -> None:
    for path in [*CHART_RULES, model_serving_rules, load_script_local().LOCAL_RULES]:
        result = promtool("check", "rules", path)
        assert result.returncode == 0, f"{path}:\n{result.stdout}{result.stderr}"


def test_promtool_check_refuses_bad_promql() -> None:
    result = promtool("check", "rules", FIXTURES / "bad-syntax-rules.yaml")
    assert result.returncode != 0
    assert "SlipwayBroken" in result.stdout + result.stderr or "parse" in result.stderr


def test_promtool_unit_tests_pass() -> None:
    result = promtool("test", "rules", *[p.name for p in TEST_FILES], cwd=checks.PROMTOOL_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_can_fail() -> None:
    result = promtool("test", "rules", "wrong-expectation.test.yaml", cwd=FIXTURES)
    assert result.returncode != 0
    assert "SlipwayDriftDetected" in result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_case(model_serving_rules: Path) -> None:
    names = {r["alert"] for r in checks.alerts(all_groups(model_serving_rules))}
    firing, quiet = checks.tested_alerts(TEST_FILES)
    firing |= MODEL_SERVING_FIRING
    quiet |= MODEL_SERVING_QUIET
    assert names - firing == set(), "alerts no promtool case expects to fire"
    assert names - quiet == set(), "alerts no promtool case expects to stay quiet"
    assert (firing | quiet) - names == set(), "promtool cases of alerts that do not exist"


def test_every_alert_has_severity_summary_description_and_its_runbook(
    model_serving_rules: Path,
) -> None:
    assert checks.alert_problems(all_groups(model_serving_rules)) == []


def test_alert_metadata_check_can_fail() -> None:
    problems = checks.alert_problems(checks.load_groups(FIXTURES / "bad-metadata-rules.yaml"))
    assert any("severity 'page'" in p for p in problems)
    assert any("no description" in p for p in problems)
    assert any("is not https://" in p for p in problems)


def test_every_runbook_url_has_its_page_and_every_page_its_alert(
    model_serving_rules: Path,
) -> None:
    urls = {
        r["alert"]: r["annotations"]["runbook_url"]
        for r in checks.alerts(all_groups(model_serving_rules))
    }
    assert len(urls) >= 10
    assert checks.runbook_problems(urls, checks.RUNBOOKS) == []


def test_runbook_check_can_fail(tmp_path: Path) -> None:
    (tmp_path / "SlipwayOrphan.md").write_text("# SlipwayOrphan\n\n## What it means\n")
    (tmp_path / "SlipwayThin.md").write_text("# SlipwayThin\n\n## What it means\n\nx\n")
    urls = {
        "SlipwayMissing": f"{checks.RUNBOOK_BASE}SlipwayMissing.md",
        "SlipwayThin": f"{checks.RUNBOOK_BASE}SlipwayThin.md",
    }
    problems = checks.runbook_problems(urls, tmp_path)
    assert any(p.startswith("SlipwayMissing: no page") for p in problems)
    assert any(p.startswith("SlipwayThin.md: sections") for p in problems)
    assert any(p.startswith("SlipwayOrphan.md: no alert") for p in problems)


# --- the model-serving chart: per-model objective and latency ceiling ------------------

MODEL_SERVING_FIRING = {"SlipwayModelLatencyP99High"}
MODEL_SERVING_QUIET = {"SlipwayModelLatencyP99High"}
RB = checks.RUNBOOK_BASE


def _requests(model: str, ok: int, errors: int) -> list[dict[str, str]]:
    name = "slipway_inference_requests_total"
    labels = f'namespace="model-serving", model_name="{model}", model_version="1"'
    return [
        {"series": f'{name}{{{labels}, code="200"}}', "values": f"0+{ok}x90"},
        {"series": f'{name}{{{labels}, code="500"}}', "values": f"0+{errors}x90"},
    ]


def _slow_histogram(model: str) -> list[dict[str, str]]:
    """Every request between 250 and 500 ms: a p99 just under 0.5 s."""
    name = "request_predict_seconds_bucket"
    return [
        {"series": f'{name}{{model_name="{model}", le="0.25"}}', "values": "0x90"},
        {"series": f'{name}{{model_name="{model}", le="0.5"}}', "values": "0+10x90"},
        {"series": f'{name}{{model_name="{model}", le="+Inf"}}', "values": "0+10x90"},
    ]


PAIRS = [
    ("1h", "5m", 14.4, "critical"),
    ("6h", "30m", 6, "critical"),
    ("1d", "2h", 3, "warning"),
    ("3d", "6h", 1, "warning"),
]


def _burn(model: str, long: str, short: str, factor: float, severity: str) -> dict[str, Any]:
    return {
        "exp_labels": {
            "severity": severity,
            "slo": "availability",
            "long": long,
            "short": short,
            "model_name": model,
            "namespace": "model-serving",
        },
        "exp_annotations": {
            "summary": f"Model {model} burns its availability error budget {factor}x too fast",
            "description": f"Model {model} has burnt its availability error budget at {factor}x "
            f"the sustainable rate over both the last {long} and the last {short}; server "
            f"errors (5xx) over {long}: 2%.",
            "runbook_url": f"{RB}SlipwayAvailabilityBudgetBurn.md",
        },
    }


def _case(at: str, alert: str, expected: list[dict[str, Any]]) -> dict[str, Any]:
    return {"eval_time": at, "alertname": alert, "exp_alerts": expected}


def test_model_serving_objective_and_ceiling(model_serving_rules: Path, tmp_path: Path) -> None:
    """churn's own 95% objective tolerates 2% errors that burn fraud's default 99.9%; churn's
    0.3 s p99 ceiling fires on a 0.5 s p99 that fraud's default 0.5 s ceiling allows."""
    ceiling = {
        "exp_labels": {"severity": "warning", "model_name": "churn"},
        "exp_annotations": {
            "summary": "Model churn p99 latency above its ceiling of 0.3s",
            "description": "p99 latency of churn (version 7) is 497.5ms over 5m; "
            "its ceiling is 0.3s.",
            "runbook_url": f"{RB}SlipwayModelLatencyP99High.md",
        },
    }
    series = [
        *_requests("churn", 98, 2),
        *_requests("fraud", 98, 2),
        *_slow_histogram("churn"),
        *_slow_histogram("fraud"),
    ]
    latency = "SlipwayModelLatencyP99High"
    spec = {
        "rule_files": [str(model_serving_rules), str(checks.RULES / "slo.yaml")],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    _case(
                        "65m", "SlipwayAvailabilityBudgetBurn", [_burn("fraud", *p) for p in PAIRS]
                    ),
                    _case("5m", latency, []),
                    _case("30m", latency, [ceiling]),
                ],
            }
        ],
    }
    path = tmp_path / "model-serving.test.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    result = promtool("test", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


# --- the local stack's rules file --------------------------------------------------------


def load_script_local() -> Any:
    return load_script("dashboards/local_rules")


def test_local_rules_file_is_in_step_with_the_chart() -> None:
    local = load_script_local()
    assert local.main(["--check"]) == 0, "run scripts/dashboards/local_rules.py"
    groups = [g["name"] for g in checks.load_groups(local.LOCAL_RULES)]
    wanted = [g["name"] for f in local.LOCAL_FILES for g in checks.load_groups(checks.RULES / f)]
    assert groups == wanted
    assert "slipway-platform" not in groups  # cluster-only: MLflow's absent() would always fire
    # the only rule file of its folder: a stack that loads the folder loads exactly it
    assert sorted(local.LOCAL_RULES.parent.glob("*.y*ml")) == [local.LOCAL_RULES]


def test_local_rules_check_sees_a_stale_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = load_script_local()
    stale = tmp_path / "rules.yaml"
    stale.write_text(local.render().replace("for: 2m", "for: 3m", 1), encoding="utf-8")
    monkeypatch.setattr(local, "LOCAL_RULES", stale)
    assert local.main(["--check"]) == 1
    assert local.main([]) == 0
    assert stale.read_text(encoding="utf-8") == local.render()


def test_local_rules_render_the_same_after_hera_is_imported() -> None:
    """Hera swaps PyYAML's str representer for the whole process; the full suite imports
    it before this file runs, a lone run does not."""
    before = load_script_local().render()
    import hera.workflows  # noqa: F401  (its import is the point)

    assert load_script_local().render() == before

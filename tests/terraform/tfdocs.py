"""Inputs and outputs tables of a Terraform module's README, generated from its code.

    .venv/bin/python tests/terraform/tfdocs.py            # rewrite every README's tables
    .venv/bin/python tests/terraform/tfdocs.py --check    # exit 1 when one is out of step

The tables live between the BEGIN/END markers; everything else in a README is hand-written.
The tests call `readme_problems` on every module, submodule and the root.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in {None, ""}:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from tf_helpers import Config, config_dirs, load_config, render, unquote

BEGIN = "<!-- BEGIN_TF_DOCS -->"
END = "<!-- END_TF_DOCS -->"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{_cell(text)}`"


def render_tables(config: Config) -> str:
    """The generated part of the README, markers included."""
    lines = [BEGIN, "## Inputs", ""]
    if config.variables:
        lines += [
            "| Name | Description | Type | Default | Required |",
            "|------|-------------|------|---------|:--------:|",
        ]
        for name in sorted(config.variables):
            body = config.variables[name]
            required = "default" not in body
            default = "n/a" if required else _code(render(body["default"]))
            sensitive = " (sensitive)" if body.get("sensitive") is True else ""
            description = _cell(unquote(body.get("description"))) + sensitive
            kind = _code(render(body.get("type")))
            lines.append(
                f"| `{name}` | {description} | {kind} | {default} | {'yes' if required else 'no'} |"
            )
    else:
        lines.append("No inputs.")
    lines += ["", "## Outputs", ""]
    if config.outputs:
        lines += ["| Name | Description |", "|------|-------------|"]
        for name in sorted(config.outputs):
            body = config.outputs[name]
            sensitive = " (sensitive)" if body.get("sensitive") is True else ""
            lines.append(f"| `{name}` | {_cell(unquote(body.get('description')))}{sensitive} |")
    else:
        lines.append("No outputs.")
    lines.append(END)
    return "\n".join(lines)


def readme_problems(directory: Path) -> list[str]:
    """The README exists, has the markers, and its tables equal the generated ones."""
    readme = directory / "README.md"
    if not readme.is_file():
        return [f"{directory.name}: no README.md"]
    text = readme.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        return [f"{directory.name}: README.md has no {BEGIN} ... {END} section"]
    current = text[text.index(BEGIN) : text.index(END) + len(END)]
    expected = render_tables(load_config(directory))
    if current != expected:
        return [
            f"{directory.name}: README.md tables are out of step with the code "
            "(run tests/terraform/tfdocs.py)"
        ]
    return []


def write_readme(directory: Path) -> bool:
    """Rewrite the generated section (appending it when missing); True when the file changed."""
    readme = directory / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.is_file() else f"# {directory.name}\n"
    tables = render_tables(load_config(directory))
    if BEGIN in text and END in text:
        new = text[: text.index(BEGIN)] + tables + text[text.index(END) + len(END) :]
    else:
        new = text.rstrip("\n") + "\n\n" + tables + "\n"
    if new != text:
        readme.write_text(new, encoding="utf-8")
        return True
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--check", action="store_true", help="report out-of-step READMEs, change nothing"
    )
    parser.add_argument(
        "dirs",
        nargs="*",
        type=Path,
        help="module or root directories (default: every module, submodule and the root)",
    )
    args = parser.parse_args(argv)
    dirs = args.dirs or config_dirs()
    if args.check:
        problems = [p for d in dirs for p in readme_problems(d)]
        print("\n".join(problems) or "READMEs are in step")
        return 1 if problems else 0
    for directory in dirs:
        if write_readme(directory):
            print(f"updated {directory / 'README.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

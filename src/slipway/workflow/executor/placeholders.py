"""Argo's ``{{...}}`` references: which ones the executor resolves (checked before a run),
and their substitution while it runs.

Resolved: ``{{workflow.parameters.x}}``, ``{{inputs.parameters.x}}``, ``{{workflow.name}}``
and, in DAG tasks, ``{{tasks.t.outputs.parameters.y}}`` of a task that ``t`` depends on; in a
loop's task ``{{item}}`` and ``{{item.key}}``; in the exit handler ``{{workflow.status}}``
and ``{{workflow.failures}}``. Anything else (other variables, expressions ``{{=...}}``) is
refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from slipway.errors import WorkflowError

REFERENCE = re.compile(r"\{\{\s*(.*?)\s*\}\}")
ALL_INPUTS = "{{inputs.parameters}}"  # the Hera runner's source: every input, as JSON
_WORKFLOW_PARAM = re.compile(r"workflow\.parameters\.([\w-]+)")
_INPUT_PARAM = re.compile(r"inputs\.parameters\.([\w-]+)")
_TASK_OUTPUT = re.compile(r"tasks\.([\w-]+)\.outputs\.parameters\.([\w-]+)")
_ITEM_KEY = re.compile(r"item\.[\w-]+")
WORKFLOW_NAME = "workflow.name"
EXIT_VARIABLES = frozenset({"workflow.status", "workflow.failures"})
ITEM = "item"


def check_references(
    text: str,
    where: str,
    workflow_params: set[str],
    inputs: set[str],
    tasks: Mapping[str, set[str]],
    variables: frozenset[str] = frozenset(),
) -> None:
    """Every ``{{...}}`` in ``text`` must be a reference this executor resolves.

    ``tasks``: the output parameters of each task the text may read (its dependencies);
    ``variables``: the other names it may use here (``item``: a loop's item and its keys).
    """
    for ref in REFERENCE.findall(text):
        if ref == WORKFLOW_NAME or ref in variables:
            continue
        if ITEM in variables and _ITEM_KEY.fullmatch(ref):
            continue
        if match := _WORKFLOW_PARAM.fullmatch(ref):
            known, name = workflow_params, match[1]
        elif match := _INPUT_PARAM.fullmatch(ref):
            known, name = inputs, match[1]
        elif match := _TASK_OUTPUT.fullmatch(ref):
            known, name = tasks.get(match[1], set()), match[2]
            if match[1] not in tasks:
                raise WorkflowError(
                    f"{where}: {{{{{ref}}}}} names task {match[1]!r}, which it does not depend on"
                )
        else:
            raise WorkflowError(f"{where}: unsupported reference {{{{{ref}}}}}")
        if name not in known:
            raise WorkflowError(f"{where}: {{{{{ref}}}}}: no parameter {name!r} there")


def substitute(text: str, values: Mapping[str, str], where: str) -> str:
    """``text`` with each ``{{name}}`` replaced from ``values`` (keys without braces)."""

    def one(match: re.Match[str]) -> str:
        try:
            return values[match[1]]
        except KeyError:
            raise WorkflowError(f"{where}: {{{{{match[1]}}}}} has no value here") from None

    return REFERENCE.sub(one, text)


def blanked(text: str) -> str:
    """``text`` with every reference replaced by a bare word: its shape before values exist."""
    return REFERENCE.sub("x", text)

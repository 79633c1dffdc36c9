"""The DAG's shape: each task's dependencies (``depends`` as task names joined by ``&&``,
or ``dependencies``), an order that respects them (graphlib's TopologicalSorter; a cycle
is a WorkflowError naming its tasks), and what a task needs upstream."""

from __future__ import annotations

import graphlib
import re
from collections.abc import Iterable, Mapping, Sequence

from hera.workflows import models as m

from slipway.errors import WorkflowError

_TASK_NAME = re.compile(r"[\w-]+")


def dependencies(tasks: Sequence[m.DAGTask], where: str) -> dict[str, list[str]]:
    """Each task's dependencies by name, in the tasks' declared order."""
    names = [t.name for t in tasks]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise WorkflowError(f"{where}: task names used twice: {duplicates}")
    deps: dict[str, list[str]] = {}
    for task in tasks:
        if task.depends is not None and task.dependencies is not None:
            raise WorkflowError(f"{where} task {task.name}: both depends and dependencies")
        listed = task.dependencies or []
        if task.depends is not None:
            listed = [d.strip() for d in task.depends.split("&&")]
            if any(not _TASK_NAME.fullmatch(d) for d in listed):
                raise WorkflowError(
                    f"{where} task {task.name}: depends {task.depends!r} "
                    "(only task names joined by &&)"
                )
        unknown = set(listed) - set(names)
        if unknown:
            raise WorkflowError(f"{where} task {task.name}: unknown dependencies {sorted(unknown)}")
        deps[task.name] = listed
    return deps


def ordered(deps: Mapping[str, Sequence[str]], where: str) -> list[str]:
    """Every task after its dependencies; of those ready, the first declared goes first."""
    sorter = graphlib.TopologicalSorter(deps)
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle: list[str] = exc.args[1]  # each an immediate dependency of the next
        raise WorkflowError(
            f"{where}: the dependencies form a cycle: "
            f"{' -> '.join(reversed(cycle))} (each depends on the next)"
        ) from None
    declared = {name: index for index, name in enumerate(deps)}
    ready: list[str] = []
    order: list[str] = []
    while sorter.is_active():
        ready.extend(sorter.get_ready())
        first = min(ready, key=declared.__getitem__)
        ready.remove(first)
        sorter.done(first)
        order.append(first)
    return order


def upstream(deps: Mapping[str, Iterable[str]], names: Iterable[str]) -> set[str]:
    """``names`` and every task they depend on, directly or not."""
    found: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo.extend(deps[name])
    return found

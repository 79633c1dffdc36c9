"""What a run reports: one TaskResult per task (its status, outputs, time, why; a loop's
children; how many attempts; whether its outputs came from the cache or an earlier run),
and the RunResult of the whole workflow, which can raise StepFailed for its first failure."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from slipway.errors import StepFailed

Status = Literal["Succeeded", "Failed", "Skipped", "Omitted"]


@dataclass(frozen=True)
class TaskResult:
    name: str
    template: str
    status: Status
    outputs: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    message: str = ""  # why it was skipped, omitted or failed
    nested: RunResult | None = None  # the workflow a resource task submitted
    error: BaseException | None = field(default=None, repr=False, compare=False)
    children: list[TaskResult] = field(default_factory=list)  # a loop's steps, one an item
    attempts: int = 1  # 1 + the retries it took
    reused: str | None = None  # "cached" (from the step cache) or "resumed" (an earlier run's)


@dataclass(frozen=True)
class RunResult:
    workflow: str
    parameters: dict[str, str]
    tasks: list[TaskResult]
    excluded: list[str] = field(default_factory=list)  # outside the run's target
    name: str = ""  # this run's name ({{workflow.name}}), what --resume takes
    on_exit: list[TaskResult] = field(default_factory=list)  # the exit handler's tasks

    @property
    def status(self) -> Literal["Succeeded", "Failed"]:
        return "Failed" if self.failed is not None else "Succeeded"

    @property
    def failed(self) -> TaskResult | None:
        """The first failed task (an exit handler's failure fails the run too, as in Argo)."""
        return next((t for t in [*self.tasks, *self.on_exit] if t.status == "Failed"), None)

    def task(self, name: str) -> TaskResult:
        for result in [*self.tasks, *self.on_exit]:
            if result.name == name:
                return result
        raise KeyError(f"{self.workflow} has no task {name!r} in this run")

    def raise_for_failure(self) -> None:
        failed = self.failed
        if failed is not None:
            raise StepFailed(
                f"{self.workflow}: task {failed.name!r} failed: {failed.message}"
            ) from failed.error

    def to_record(self) -> dict[str, Any]:
        """What ``--resume`` reads back: the run's parameters, each task's status and outputs."""
        return {
            "workflow": self.workflow,
            "name": self.name,
            "status": self.status,
            "parameters": self.parameters,
            "tasks": [
                {"name": t.name, "status": t.status, "outputs": t.outputs, "message": t.message}
                for t in self.tasks
            ],
        }


def failures(tasks: list[TaskResult]) -> str:
    """``{{workflow.failures}}``: Argo's JSON list of the failed nodes."""
    failed = [
        {
            "displayName": t.name,
            "message": t.message,
            "templateName": t.template,
            "phase": "Failed",
            "podName": t.name,
            "finishedAt": "",
        }
        for task in tasks
        for t in [*task.children, task]
        if t.status == "Failed"
    ]
    return json.dumps(failed)


def progress_line(result: TaskResult) -> str:
    """The line the executor echoes when a task ends."""
    outputs = " ".join(f"{k}={v}" for k, v in result.outputs.items())
    detail = result.message or outputs
    if result.reused:
        detail = f"({result.reused}) {detail}"
    if result.attempts > 1:
        detail = f"[{result.attempts} attempts] {detail}"
    return f"{result.name:<16} {result.status:<10} {result.seconds:6.1f}s  {detail}".rstrip()

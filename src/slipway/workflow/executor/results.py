"""What a run reports: one TaskResult per task (its status, outputs, time, why), and the
RunResult of the whole workflow, which can raise StepFailed for its first failure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

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


@dataclass(frozen=True)
class RunResult:
    workflow: str
    parameters: dict[str, str]
    tasks: list[TaskResult]
    excluded: list[str] = field(default_factory=list)  # outside the run's target

    @property
    def status(self) -> Literal["Succeeded", "Failed"]:
        return "Failed" if self.failed is not None else "Succeeded"

    @property
    def failed(self) -> TaskResult | None:
        return next((t for t in self.tasks if t.status == "Failed"), None)

    def task(self, name: str) -> TaskResult:
        for result in self.tasks:
            if result.name == name:
                return result
        raise KeyError(f"{self.workflow} has no task {name!r} in this run")

    def raise_for_failure(self) -> None:
        failed = self.failed
        if failed is not None:
            raise StepFailed(
                f"{self.workflow}: task {failed.name!r} failed: {failed.message}"
            ) from failed.error


def progress_line(result: TaskResult) -> str:
    """The line the executor echoes when a task ends."""
    outputs = " ".join(f"{k}={v}" for k, v in result.outputs.items())
    detail = result.message or outputs
    return f"{result.name:<16} {result.status:<10} {result.seconds:6.1f}s  {detail}".rstrip()

"""Every error type slipway raises on purpose, in one place.

``SlipwayError`` and its subclasses are problems a user can fix, described in words: the
CLI prints each as one ``error:`` line and exits non-zero, never a traceback. Library code
raises the most specific subclass; nothing but the CLI (and a workflow step's runner)
needs to catch them.

``RequestError`` is different: it is the predictor's answer to a bad HTTP request (a 4xx
status and the field at fault), raised and caught on the request path.
"""

from __future__ import annotations

from typing import Any


class SlipwayError(Exception):
    """Base class: a problem the user can fix, described in words."""


class ConfigError(SlipwayError):
    """The configuration file or an environment override is invalid."""


class DataError(SlipwayError):
    """A data file cannot be read, or breaks its contract."""


class StackError(SlipwayError):
    """The local stack (MLflow, Prometheus, model servers) is not in the state asked for."""


class TrackingError(SlipwayError):
    """MLflow has no record that a step needs: a run without its model, a missing decision."""


class TrainingError(SlipwayError):
    """Training cannot run as configured (for example a CUDA device that is not there)."""


class ModelError(SlipwayError):
    """A model folder is not a slipway model bundle, or a bundle cannot be loaded."""


class ServingError(SlipwayError):
    """The predictor cannot start: no model where it was asked to look."""


class RolloutError(SlipwayError):
    """The rollout cannot start: no champion, unknown version, nothing to compare."""


class PrometheusError(SlipwayError):
    """Prometheus could not be queried, or answered an error."""


class KServeError(SlipwayError):
    """The InferenceService is missing, invalid, or did not become ready in time."""


class GitOpsError(SlipwayError):
    """The values file or the repository is not in the state promotion needs."""


class WorkflowError(SlipwayError):
    """The workflow uses what the local executor cannot run, or names what is not there."""


class StepFailed(SlipwayError):
    """A task of a local run failed; its error is the cause."""


class RequestError(Exception):
    """A request the predictor refuses: HTTP ``status`` (4xx), a message, the field."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field

    def to_json(self) -> dict[str, Any]:
        return {"error": self.message, "field": self.field}

"""The exceptions slipway raises for bad input. The CLI turns each into a one-line message
and a non-zero exit; nothing else should need to catch them."""

from __future__ import annotations


class SlipwayError(Exception):
    """Base class: a problem the user can fix, described in words."""


class ConfigError(SlipwayError):
    """The configuration file or an environment override is invalid."""


class DataError(SlipwayError):
    """A data file cannot be read, or breaks its contract."""


class StackError(SlipwayError):
    """The local stack (MLflow, Prometheus, model servers) is not in the state asked for."""

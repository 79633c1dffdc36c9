"""slipway: the ML platform's Python package."""

__version__ = "0.1.0"

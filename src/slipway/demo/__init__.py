"""``slipway demo``: the whole loop on one machine, with the demo data (see loop.py)."""

from slipway.demo.loop import run_demo
from slipway.demo.workspace import demo_data

__all__ = ["demo_data", "run_demo"]

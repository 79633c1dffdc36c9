"""``python -m slipway.cli``: the command line (what torchrun and the tests call)."""

from slipway.cli import app

if __name__ == "__main__":
    app()

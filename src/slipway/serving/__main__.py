"""``python -m slipway.serving``: the predictor process, without the CLI.

What a predictor pod and the local stack's model servers run: serve the model folder
that KServe's storage initializer (or the local model cache) put on disk. It imports
neither the CLI nor the registry client; ``slipway serve --model-uri`` is the command that
resolves a registry version first.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from slipway.config import load_settings
from slipway.errors import SlipwayError
from slipway.serving import server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m slipway.serving", description=__doc__)
    parser.add_argument("--model-dir", type=Path, default=Path("/mnt/models"))
    parser.add_argument("--model-name", default=os.environ.get("SLIPWAY_MODEL_NAME"))
    parser.add_argument("--model-version", default=None)
    parser.add_argument("--run-id", default=None)
    parser.add_argument("--http-port", type=int, default=8080)
    # A pod's server listens on its pod address; the local stack passes 127.0.0.1.
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        name = args.model_name or settings.tracking.model_name
        source = server.from_dir(args.model_dir, name, args.model_version, args.run_id)
        server.run(
            source, settings.serving, args.http_port, args.host, settings.monitoring.payloads
        )
    except SlipwayError as exc:
        parser.exit(1, f"error: {exc}\n")


if __name__ == "__main__":
    main()

"""``python -m slipway.serving``: the predictor without the rest of the CLI."""

from slipway.cli.serving import serve_main

if __name__ == "__main__":
    serve_main()

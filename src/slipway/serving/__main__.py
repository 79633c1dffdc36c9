"""``python -m slipway.serving``: the predictor without the rest of the CLI."""

import slipway.cli  # noqa: F401  (cli_serving imports from cli; load cli first)
from slipway.cli_serving import serve_main

if __name__ == "__main__":
    serve_main()

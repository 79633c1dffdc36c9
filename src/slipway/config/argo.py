"""Settings of the Argo Server client (slipway workflow submit|status|logs)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from slipway.config.base import _Section


class ArgoSettings(_Section):
    """The Argo Server that ``slipway workflow submit|status|logs`` talk to."""

    server: str | None = Field(
        None, description="Argo Server URL, e.g. https://argo.example.org:2746; none: ARGO_SERVER."
    )
    namespace: str = Field("ml-workflows", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    token_env: str = Field(
        "ARGO_TOKEN", description="Variable holding the bearer token (`argo auth token`)."
    )
    verify_tls: bool = Field(True, description="Check the server's certificate.")
    ca_file: Path | None = Field(None, description="CA bundle for the server's certificate.")

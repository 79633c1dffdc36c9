"""Example custom networks: torch modules slipway builds from a config's factory path."""

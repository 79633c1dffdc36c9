"""slipway's organisation rules as checkov custom policies (loaded with --external-checks-dir)."""

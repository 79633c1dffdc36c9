"""slipway's worked examples: data slipway does not generate, and a team's own network."""

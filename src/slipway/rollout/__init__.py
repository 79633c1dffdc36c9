"""Canary rollout: decisions (decision.py), metrics (metrics.py), backends, controller."""

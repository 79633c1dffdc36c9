"""Monitoring of what the predictors serve: drift, live quality, and retraining from an alert."""

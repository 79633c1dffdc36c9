"""The predictor: a KServe model server for slipway models (see model.py, gateway.py)."""

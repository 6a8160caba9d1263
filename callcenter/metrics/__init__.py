"""Prometheus metrics of the running server (GET /api/metrics)."""

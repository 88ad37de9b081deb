"""Metrics, logs and the operations HTTP server."""

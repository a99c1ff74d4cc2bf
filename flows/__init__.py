"""Prefect flows: the certification pipeline, backtests, the stress test."""

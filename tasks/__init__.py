"""Thin Prefect tasks: one logical step or side effect each."""

__all__: list[str] = []

"""How an exception is written where it becomes evidence or a log line: one format everywhere."""

from __future__ import annotations

__all__ = ["describe"]


def describe(error: BaseException) -> str:
    """`"<ExceptionClass>: <message>"` — the class says what kind of failure, the message which.

    >>> describe(ValueError("bad rate"))
    'ValueError: bad rate'
    """
    return f"{type(error).__name__}: {error}"

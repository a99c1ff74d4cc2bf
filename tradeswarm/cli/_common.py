"""What every command shares: the root group, `--json`, one-line errors and exit codes.

Exit codes (README.md "Exit codes", docs/runbook.md): 0 success or CERTIFIED; 1 NOT_CERTIFIED or an operation failed;
2 bad input or configuration; 3 CONDITIONAL. An error is one line on stderr, never a
traceback (set TRADESWARM_DEBUG=1 to see one). With `--json` the command prints exactly one
JSON document on stdout, also on error (`{"error": ..., "exit_code": ...}`).
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
from typing import Any, Callable

import click

from tradeswarm.settings import mask_secrets

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_CONDITIONAL = 0, 1, 2, 3
EXIT_TERMINATED = 128 + 15  # killed by SIGTERM, as a shell reports it


class UsageError(Exception):
    """Bad input or configuration: exit code 2."""


class OperationError(Exception):
    """The operation was attempted and failed: exit code 1."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tradeswarm")
def cli() -> None:
    """tradeswarm: certify an automated trading swarm for production.

    Every command takes --json and then prints exactly one JSON document.
    """


def _wants_json() -> bool:
    return "--json" in sys.argv[1:]


def json_option(fn: Callable) -> Callable:
    """Add `--json` to a command; the command receives it as `as_json`."""
    return click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON document.")(fn)


def emit(as_json: bool, document: Any, human: str | Callable[[], str]) -> None:
    """Print `document` as JSON, or the human rendering (a string or a callable making one), secrets masked."""
    text = json.dumps(document, indent=2, default=str) if as_json else (human() if callable(human) else human)
    click.echo(mask_secrets(text))  # the last line of defence: no configured secret is ever printed


def table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """A plain aligned text table for terminals."""
    if not rows:
        return "(none)"
    columns = columns or list(rows[0])
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()  # noqa: E731
    return "\n".join([line([c.upper() for c in columns]), *(line(r) for r in cells)])


def parse_date(text: str | None, flag: str):
    """`YYYY-MM-DD` → a `date` (None stays None); anything else is bad input naming `flag`."""
    from datetime import date

    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{flag}: not a date: {text!r} (use YYYY-MM-DD)") from None


def check_covered(symbols: list[str], start, end) -> None:
    """Refuse a date window that reaches past a symbol's data (it would be clipped silently)."""
    from tradeswarm.marketdata import check_window

    try:
        check_window(symbols, start, end)
    except ValueError as e:
        raise UsageError(str(e)) from None


def check_writable(path: str | os.PathLike, flag: str, *, directory: bool = False, room_mb: int = 0) -> None:
    """Refuse, before any work, an output path whose directory cannot take a new file (or `room_mb`).

    `path` is a directory (`directory=True`, e.g. `--out`) or a file (e.g. `--chart`); the check
    creates nothing: it asks the nearest existing directory above it.
    """
    import shutil
    from pathlib import Path

    target = Path(path).absolute()
    if directory and target.exists() and not target.is_dir():
        raise UsageError(f"{flag} {path}: exists and is not a directory")
    probe = target
    while not probe.is_dir():
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK) or _read_only(probe):
        raise UsageError(f"{flag} {path}: {probe} is not writable")
    free_mb = shutil.disk_usage(probe).free / 2**20
    if free_mb < room_mb:
        raise UsageError(f"{flag} {path}: {free_mb:.0f} MB free on its filesystem, a run needs {room_mb} MB")


def _read_only(directory) -> bool:
    """root passes `os.access` on a read-only mount (and /proc): ask the filesystem instead."""
    return bool(os.statvfs(directory).f_flag & os.ST_RDONLY) or str(directory).startswith("/proc")


def _fail(message: str, code: int) -> int:
    message = mask_secrets(" ".join(str(message).split()))  # one line, whatever the cause printed
    if _wants_json():
        click.echo(json.dumps({"error": message, "exit_code": code}))
    click.echo(f"tradeswarm: error: {message}", err=True)
    return code


def run_cli(argv: list[str] | None = None) -> int:
    """Run the CLI and map every outcome to an exit code without printing a traceback."""
    try:
        rv = cli.main(args=argv, prog_name="tradeswarm", standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.NoArgsIsHelpError as e:  # a bare group: its usage, as --help shows it
        click.echo(e.ctx.get_help() if e.ctx else e.format_message(), err=True)
        return EXIT_USAGE
    except click.exceptions.Abort:  # click's name for Ctrl-C (the CLI asks no questions)
        return _fail("interrupted", 130)
    except click.ClickException as e:  # bad flags, missing arguments, bad values
        return _fail(e.format_message(), EXIT_USAGE)
    except UsageError as e:
        return _fail(str(e), EXIT_USAGE)
    except OperationError as e:
        return _fail(str(e), EXIT_FAIL)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as e:  # a bug or an unexpected failure: still one line
        if os.environ.get("TRADESWARM_DEBUG"):
            raise
        return _fail(f"unexpected error: {e or type(e).__name__} (TRADESWARM_DEBUG=1 shows where)", EXIT_FAIL)
    except BaseException as e:
        if _terminated(e):  # SIGTERM: a scheduler or Prefect cancelling the run, cleaned up like Ctrl-C
            return _fail("terminated", EXIT_TERMINATED)
        raise
    return rv if isinstance(rv, int) else EXIT_OK


class Terminated(BaseException):
    """SIGTERM reached the CLI: unwinds like Ctrl-C, so every `finally` cleans up."""


def raise_on_sigterm() -> None:
    """Turn SIGTERM into `Terminated` (a flow run replaces this with Prefect's equivalent)."""
    def handler(signum, frame):
        raise Terminated()

    signal.signal(signal.SIGTERM, handler)


def _terminated(e: BaseException) -> bool:
    prefect_exceptions = sys.modules.get("prefect.exceptions")  # only a flow run can raise Prefect's
    return isinstance(e, Terminated) or (
        prefect_exceptions is not None and isinstance(e, prefect_exceptions.TerminationSignal))


def command(*args: Any, **kwargs: Any) -> Callable:
    """`cli.command` whose function may return an int exit code."""

    def deco(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*a: Any, **kw: Any) -> Any:
            return fn(*a, **kw)

        return cli.command(*args, **kwargs)(wrapper)

    return deco

"""The real daily OHLCV shipped in `data/`, verified against `manifest.json` on load.

The data directory is found relative to the package: `<root>/data` beside `<root>/tradeswarm/`
in the repository, `<workspace>/data/` beside `<workspace>/lib/tradeswarm/` in a sandbox's
`trading` template; `TRADESWARM_DATA_DIR` overrides it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
from pathlib import Path

import pandas as pd

from .schema import make_frame, session_timestamps


class DataIntegrityError(ValueError):
    """A shipped data file is missing, unlisted, or does not match its manifest checksum."""


_CACHE: dict[tuple, pd.DataFrame] = {}
_LOCK = threading.Lock()


def data_dir() -> Path:
    """`$TRADESWARM_DATA_DIR` if set, else the `data/` folder that holds `manifest.json`.

    Looked for beside the package's parent (the repository: `<root>/tradeswarm`, `<root>/data`)
    and one level up (a sandbox template: `<ws>/lib/tradeswarm`, `<ws>/data`).
    """
    override = os.environ.get("TRADESWARM_DATA_DIR")
    if override:
        return Path(override)
    import tradeswarm

    package = Path(tradeswarm.__file__).resolve().parent
    candidates = [package.parent / "data", package.parent.parent / "data"]
    return next((c for c in candidates if (c / "manifest.json").is_file()), candidates[0])


def manifest(directory: Path | None = None) -> dict:
    """The `datasets` section of `manifest.json`: symbol → {file, sha256, rows, ...}."""
    path = (directory or data_dir()) / "manifest.json"
    try:
        return json.loads(path.read_text())["datasets"]
    except FileNotFoundError:
        raise DataIntegrityError(f"no market-data manifest at {path} (set TRADESWARM_DATA_DIR?)") from None
    except (ValueError, KeyError) as exc:
        raise DataIntegrityError(f"unreadable market-data manifest {path}: {exc}") from None


def shipped_symbols() -> list[str]:
    """The symbols the manifest lists, sorted."""
    return sorted(manifest())


def load_symbol(name: str) -> pd.DataFrame:
    """Load a shipped symbol (`SPX`, `NDX`, `GOOG`) as a schema frame, checksum verified.

    Raises `ValueError` listing the known symbols for an unknown name, and
    `DataIntegrityError` for a file whose SHA-256 differs from the manifest. Frames are
    cached per process (keyed by the file's path, size and mtime, so an edited file is
    re-verified); each call returns a copy.

    >>> load_symbol("SPX").attrs["symbol"]
    'SPX'
    """
    directory = data_dir()
    datasets = manifest(directory)
    if name not in datasets:
        raise ValueError(f"unknown symbol {name!r}; shipped: {', '.join(sorted(datasets))}")
    entry = datasets[name]
    path = directory / entry["file"]
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise DataIntegrityError(f"{name}: data file {path} is missing") from None
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, entry["sha256"])
    with _LOCK:
        cached = _CACHE.get(key)
    if cached is None:
        cached = _read_verified(name, path, entry)
        with _LOCK:
            _CACHE[key] = cached
    return cached.copy()


def _read_verified(name: str, path: Path, entry: dict) -> pd.DataFrame:
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != entry["sha256"]:
        raise DataIntegrityError(
            f"{name}: checksum mismatch for {path.name} (sha256 {digest[:16]}…, manifest says "
            f"{entry['sha256'][:16]}…); refusing tampered or corrupted data"
        )
    table = pd.read_csv(io.BytesIO(raw), compression="gzip")
    frame = make_frame(
        session_timestamps(table["date"]),
        {c: table[c].to_numpy() for c in ("open", "high", "low", "close", "volume")},
        symbol=name,
        source="shipped",
        feed=entry.get("origin", "unknown"),
        adjustment=entry.get("adjustment", "unknown"),
        timeframe="1Day",
        # bad prices in a file are the data contract's to report, row by row and by name
        values=False,
    )
    frame.attrs.update(sha256=digest, provenance=entry.get("source", ""))
    if len(frame) != entry.get("rows", len(frame)):
        raise DataIntegrityError(f"{name}: {len(frame)} rows, manifest says {entry['rows']}")
    return frame

"""Market data in one frame schema, from the shipped files, the generator, or Alpaca.

See `schema` for the frame (docs/contracts.md §1). `get_frames` routes each symbol to
its source; `load_symbol` reads a shipped symbol with its checksum verified; `synthetic`
makes seeded data at any scale; `AlpacaBars` (in `.alpaca`) fetches and caches real bars.
"""

from .schema import ATTRS, COLUMNS, FrameSchemaError, make_frame, session_timestamps, validate_schema
from .shipped import DataIntegrityError, data_dir, load_symbol, manifest, shipped_symbols
from .sources import check_window, coverage, get_frames, is_synthetic, uncovered
from .synthetic import synthetic, synthetic_frame, synthetic_symbols

__all__ = [
    "ATTRS", "COLUMNS", "DataIntegrityError", "check_window", "coverage", "FrameSchemaError", "data_dir", "get_frames", "is_synthetic",
    "load_symbol", "make_frame", "manifest", "session_timestamps", "shipped_symbols", "synthetic",
    "synthetic_frame", "synthetic_symbols", "uncovered", "validate_schema",
]

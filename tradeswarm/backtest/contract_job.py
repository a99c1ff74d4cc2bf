"""Run the data contract in a helper process while this one imports vectorbt.

Why: in a fresh process the contract costs ~3 s (importing great-expectations and building
its suite) and vectorbt ~3 s more, both single-threaded Python that a thread cannot overlap
(the GIL). A helper process validates the frames on the other core; `ContractJob.result()`
waits for its verdicts and stamps them on this process's frames. The contract is never
skipped: a stamp only counts where `validation.contract.ensure_valid` — which every backtest
calls — finds that the frame's content fingerprint equals the one the helper validated, so a
frame edited after validation (or a different frame) is validated again or refused.

```python
>>> from tradeswarm.marketdata import load_symbol                        # doctest: +SKIP
>>> frames = {s: load_symbol(s) for s in ("SPX", "GOOG")}                # doctest: +SKIP
>>> job = validate_in_background(frames)                                 # doctest: +SKIP
>>> ...  # import vectorbt, build grids, meanwhile                       # doctest: +SKIP
>>> {s: e["passed"] for s, e in job.result().items()}                     # doctest: +SKIP
{'SPX': True, 'GOOG': True}
```
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Mapping

import pandas as pd

#: Where `validation.contract.validate_frame` records its verdict on a frame.
STAMP = "data_validation"


def _validate(frames: Mapping[str, pd.DataFrame], settings) -> dict[str, tuple[dict, dict]]:
    """In the helper: each frame's evidence entry and the stamp `validate_frame` left on it."""
    from validation.contract import validate_frame

    return {name: (validate_frame(frame, name, settings), frame.attrs[STAMP]) for name, frame in frames.items()}


def _context():
    # fork starts in milliseconds with pandas already imported; it is only safe while this
    # process has a single thread (a lock held by another thread would stay held in the child)
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


class ContractJob:
    """The contract's verdicts on some frames, being computed in a helper process."""

    def __init__(self, frames: Mapping[str, pd.DataFrame], settings=None):
        self._frames = dict(frames)
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=_context())
        try:
            self._future = self._pool.submit(_validate, self._frames, settings)
        finally:
            self._pool.shutdown(wait=False)

    def result(self) -> dict[str, dict]:
        """Wait for the helper; stamp each frame with its verdict; return the evidence entries.

        A frame that failed is stamped as failed (backtests refuse it); the helper's own errors
        are raised here.
        """
        out = {}
        for name, (entry, stamp) in self._future.result().items():
            self._frames[name].attrs[STAMP] = stamp
            out[name] = entry
        return out


def validate_in_background(frames: Mapping[str, pd.DataFrame], settings=None) -> ContractJob:
    """Start validating `frames` ({dataset name: frame}) against the contract in a helper process."""
    return ContractJob(frames, settings)

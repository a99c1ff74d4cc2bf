"""Run the data contract in a helper process while this one imports vectorbt.

Why: in a fresh process the contract costs ~3 s (importing great-expectations and building
its suite) and vectorbt ~3 s more, both single-threaded Python that a thread cannot overlap
(the GIL). A helper process validates the frames on the other core; `ContractJob.result()`
waits for its verdicts and stamps them on this process's frames (`ContractJob.entry(name)`
waits for one frame's only, so its backtests can start while the next frame is validated). The contract is never
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


def _validate(name: str, frame: pd.DataFrame, settings) -> tuple[dict, dict]:
    """In the helper: the frame's evidence entry and the stamp `validate_frame` left on it."""
    from validation.contract import validate_frame

    return validate_frame(frame, name, settings), frame.attrs[STAMP]


def _context():
    # fork starts in milliseconds with pandas already imported; it is only safe while this
    # process has a single thread (a lock held by another thread would stay held in the child)
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


class ContractJob:
    """The contract's verdicts on some frames, being computed in a helper process, in order."""

    def __init__(self, frames: Mapping[str, pd.DataFrame], settings=None):
        self._frames = dict(frames)
        pool = ProcessPoolExecutor(max_workers=1, mp_context=_context())
        try:
            # one task per frame: the first dataset's backtests can start on its own verdict
            self._futures = {name: pool.submit(_validate, name, frame, settings) for name, frame in self._frames.items()}
        finally:
            pool.shutdown(wait=False)

    def entry(self, name: str) -> dict:
        """Wait for one frame's verdict, stamp the frame with it and return its evidence entry.

        A frame that failed is stamped as failed (backtests refuse it); the helper's own errors
        are raised here.
        """
        entry, stamp = self._futures[name].result()
        self._frames[name].attrs[STAMP] = stamp
        return entry

    def result(self) -> dict[str, dict]:
        """Every frame's verdict (see `entry`): `{name: data_validation entry}`."""
        return {name: self.entry(name) for name in self._frames}


def validate_in_background(frames: Mapping[str, pd.DataFrame], settings=None) -> ContractJob:
    """Start validating `frames` ({dataset name: frame}) against the contract in a helper process."""
    return ContractJob(frames, settings)

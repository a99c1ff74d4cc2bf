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
>>> job = ContractJob()               # the helper imports great-expectations   # doctest: +SKIP
>>> frames = {s: load_symbol(s) for s in ("SPX", "GOOG")}                # doctest: +SKIP
>>> job.validate(frames)                                                 # doctest: +SKIP
>>> ...  # import vectorbt, build grids, meanwhile                       # doctest: +SKIP
>>> {s: e["passed"] for s, e in job.result().items()}                     # doctest: +SKIP
{'SPX': True, 'GOOG': True}
```
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Mapping, TypeVar

import pandas as pd

#: Where `validation.contract.validate_frame` records its verdict on a frame.
STAMP = "data_validation"

T = TypeVar("T")


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


def _prepare() -> None:
    """In the helper: import great-expectations and build the suite before any frame arrives."""
    from validation.contract import warm_up

    warm_up()


class ContractJob:
    """The contract's verdicts on some frames, computed in a helper process, in order.

    The helper starts at once and imports great-expectations while the caller loads its data;
    `validate(frames)` then hands it the frames (once).
    """

    def __init__(self, settings=None):
        self._settings = settings
        self._frames: dict[str, pd.DataFrame] = {}
        self._futures: dict = {}
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=_context())
        self._pool.submit(_prepare)

    def validate(self, frames: Mapping[str, pd.DataFrame]) -> "ContractJob":
        """Queue `frames` ({dataset name: frame}) for validation; returns this job."""
        self._frames = dict(frames)
        try:
            # one task per frame: the first dataset's backtests can start on its own verdict
            self._futures = {name: self._pool.submit(_validate, name, frame, self._settings)
                             for name, frame in self._frames.items()}
        finally:
            self._pool.shutdown(wait=False)  # the helper exits once its queue is done
        return self

    def entry(self, name: str) -> dict:
        """Wait for one frame's verdict, stamp the frame with it and return its evidence entry.

        A frame that failed is stamped as failed (backtests refuse it); the helper's own errors
        are raised here.
        """
        entry, stamp = self._futures[name].result()
        self._frames[name].attrs[STAMP] = stamp
        return entry

    def run_while_validating(self, name: str, backtest: Callable[[pd.DataFrame], T]) -> tuple[dict, T | None]:
        """Run `backtest(frame)` while the helper may still be validating that frame; return
        `(verdict entry, result)` once the verdict is in — `result` is None when the data failed.

        Nothing computed from failed data leaves here: the result (or the error it raised: bad
        data may break a simulation) is thrown away and the verdict, with its failing rows, is
        all the caller gets. `backtest` must not ask for the verdict itself (pass
        `require_valid=False`): it does not exist yet.
        """
        try:
            result, error = backtest(self._frames[name]), None
        except Exception as e:  # only raised if the data passed: then it is the backtest's own
            result, error = None, e
        entry = self.entry(name)
        if not entry["passed"]:
            return entry, None
        if error is not None:
            raise error
        return entry, result

    def result(self) -> dict[str, dict]:
        """Every frame's verdict (see `entry`): `{name: data_validation entry}`."""
        return {name: self.entry(name) for name in self._frames}


def validate_in_background(frames: Mapping[str, pd.DataFrame], settings=None) -> ContractJob:
    """Start validating `frames` ({dataset name: frame}) against the contract in a helper process."""
    return ContractJob(settings).validate(frames)

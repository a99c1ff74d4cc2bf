"""Market-data costs, measured side by side: what the caches save.

1. `load_symbol` from the in-process cache vs reading, checksumming and parsing the file
   every time (the naive loader).
2. Alpaca daily bars from the Parquet cache vs fetching them again through the real
   alpaca-py client from the loopback server (paged like Alpaca).
3. The synthetic generator's throughput for a scale test (bars per second).

    PYTHONPATH=. python bench/bench_marketdata.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

from tests.support.alpaca_server import AlpacaServer
from tradeswarm.marketdata import load_symbol, shipped, synthetic
from tradeswarm.marketdata.alpaca import AlpacaBars
from tradeswarm.settings import Settings


def _ms(fn, repeat: int) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, python {platform.python_version()}, repeat {args.repeat}")

    cached = _ms(lambda: load_symbol("SPX"), args.repeat)

    def uncached():
        shipped._CACHE.clear()
        load_symbol("SPX")

    naive = _ms(uncached, args.repeat)
    print(f"load_symbol SPX: cached {cached:.2f} ms vs verify+parse each time {naive:.2f} ms = {naive / cached:.1f}x")

    frames = {s: load_symbol(s) for s in ("SPX", "NDX", "GOOG")}
    with AlpacaServer("bench-key", "bench-secret", bars=frames, page_size=1000) as srv, \
            tempfile.TemporaryDirectory() as tmp:
        settings = Settings(ALPACA_API_KEY="bench-key", ALPACA_API_SECRET="bench-secret",
                            ALPACA_DATA_URL=srv.url, TRADESWARM_STATE_DIR=tmp)
        symbols, start, end = list(frames), "1999-01-01", "2018-12-31"

        def fetch():
            AlpacaBars(settings, cache_dir=Path(tmp) / f"cold{time.perf_counter_ns()}",
                       min_interval_s=0).bars(symbols, start, end)

        warm = AlpacaBars(settings, cache_dir=Path(tmp) / "warm", min_interval_s=0)
        warm.bars(symbols, start, end)
        before = srv.count("/v2/stocks/bars")
        hit = _ms(lambda: warm.bars(symbols, start, end), args.repeat)
        assert srv.count("/v2/stocks/bars") == before, "the cache must not call the server"
        pages_before = srv.count("/v2/stocks/bars")
        miss = _ms(fetch, max(3, args.repeat // 4))
        pages = (srv.count("/v2/stocks/bars") - pages_before) // (max(3, args.repeat // 4) + 1)
        rows = sum(len(f) for f in frames.values())
        print(f"Alpaca bars, 3 symbols / {rows} bars: Parquet cache {hit:.1f} ms vs refetch "
              f"({pages} pages over loopback HTTP) {miss:.1f} ms = {miss / hit:.1f}x")

    t0 = time.perf_counter()
    data = synthetic(100, bars=5040, seed=1)
    dt = time.perf_counter() - t0
    print(f"synthetic: 100 symbols x 5040 bars in {dt:.2f} s = {100 * 5040 / dt:,.0f} bars/s (validated frames)")
    assert len(data) == 100


if __name__ == "__main__":
    main()

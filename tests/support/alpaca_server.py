"""A loopback HTTP server that speaks Alpaca's wire format, for the real alpaca-py clients.

Runs in a thread on a free 127.0.0.1 port. It serves:

- `GET /v2/stocks/bars` — multi-symbol bars in Alpaca's shape
  (`{"bars": {SYM: [{"t","o","h","l","c","v","n","vw"}]}, "next_page_token": ...}`), ordered by
  symbol then time, paged by `min(limit, page_size)` with an opaque `next_page_token`;
- `GET /v2/account`, `POST /v2/orders`, `GET /v2/orders/{id}`, `GET /v2/positions` — a paper
  account whose numbers go over the wire as strings, market orders filled at `prices[symbol]`,
  `403 insufficient buying power` when cash would go negative;
- Alpaca's JSON errors: 401 for wrong keys, and injected faults (`fail_next(429, 2)`, then OK).

Every request is counted in `requests` (method, path, query) so tests can prove a cache
avoided a fetch.

    with AlpacaServer(key="k", secret="s", bars={"SPX": frame}) as srv:
        client = StockHistoricalDataClient("k", "s", url_override=srv.url)
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pandas as pd

ERRORS = {
    401: {"code": 40110000, "message": "request is not authorized"},
    403: {"code": 40310000, "message": "forbidden"},
    404: {"code": 40410000, "message": "not found"},
    422: {"code": 42210000, "message": "invalid request"},
    429: {"code": 42910000, "message": "rate limit exceeded"},
}


def _iso(ts) -> str:
    return pd.Timestamp(ts).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _wire_bars(frame: pd.DataFrame) -> list[dict]:
    """A schema frame as Alpaca bar objects (t is the bar's open, in UTC)."""
    out = []
    for ts, row in zip(frame.index, frame.itertuples(index=False)):
        out.append({"t": _iso(ts), "o": row.open, "h": row.high, "l": row.low, "c": row.close,
                    "v": row.volume, "n": 1000, "vw": round((row.high + row.low + row.close) / 3, 6)})
    return out


class AlpacaServer:
    """The server and the state behind it; use as a context manager."""

    def __init__(self, key: str = "test-key", secret: str = "test-secret", *, bars: dict | None = None,
                 page_size: int = 1000, cash: float = 100_000.0, prices: dict | None = None,
                 fill_delay_polls: int = 1, echo_credentials_in_errors: bool = False) -> None:
        self.key, self.secret = key, secret
        self.page_size = page_size
        self.bars = {sym: _wire_bars(frame) for sym, frame in (bars or {}).items()}
        self.cash = float(cash)
        self.prices = dict(prices or {})
        self.positions: dict[str, dict] = {}  # symbol → {"qty": float, "cost": float}
        self.orders: dict[str, dict] = {}
        self.fill_delay_polls = fill_delay_polls  # GETs an order answers "accepted" before "filled"
        self.echo_credentials_in_errors = echo_credentials_in_errors  # a careless server, for canaries
        self.requests: list[tuple[str, str, dict]] = []
        self._faults: list[int] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control -----------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL for the SDK's `url_override` (the SDK appends `/v2`)."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def fail_next(self, status: int, count: int = 1) -> None:
        """Answer the next `count` requests with `status` and Alpaca's JSON error body."""
        with self._lock:
            self._faults.extend([status] * count)

    def count(self, path_prefix: str) -> int:
        """Requests whose path starts with `path_prefix`."""
        with self._lock:
            return sum(1 for _, path, _ in self.requests if path.startswith(path_prefix))

    def __enter__(self) -> "AlpacaServer":
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), name="alpaca-loopback", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # -- routes ------------------------------------------------------------------------
    def _bars(self, query: dict) -> tuple[int, dict]:
        symbols = [s for s in query.get("symbols", [""])[0].split(",") if s]
        if not symbols:
            return 422, {"code": 42210000, "message": "symbols is required"}
        start = pd.Timestamp(query["start"][0]) if "start" in query else None
        end = pd.Timestamp(query["end"][0]) if "end" in query else None
        rows = []
        for sym in sorted(symbols):
            for bar in self.bars.get(sym, []):
                t = pd.Timestamp(bar["t"])
                if (start is None or t >= start) and (end is None or t <= end):
                    rows.append((sym, bar))
        limit = int(query.get("limit", [self.page_size])[0] or self.page_size)
        page = min(limit, self.page_size)
        token = query.get("page_token", [None])[0]
        offset = json.loads(base64.urlsafe_b64decode(token))["offset"] if token else 0
        chunk = rows[offset: offset + page]
        body: dict = {"bars": {}}
        for sym, bar in chunk:
            body["bars"].setdefault(sym, []).append(bar)
        nxt = offset + page
        body["next_page_token"] = (base64.urlsafe_b64encode(json.dumps({"offset": nxt}).encode()).decode()
                                   if nxt < len(rows) else None)
        return 200, body

    def _equity(self) -> float:
        return self.cash + sum(p["qty"] * self.prices[s] for s, p in self.positions.items())

    def _account(self) -> tuple[int, dict]:
        equity = self._equity()
        return 200, {
            "id": "00000000-0000-4000-8000-000000000001", "account_number": "PA0LOOPBACK",
            "status": "ACTIVE", "currency": "USD", "cash": f"{self.cash:.2f}",
            "buying_power": f"{self.cash:.2f}", "portfolio_value": f"{equity:.2f}",
            "equity": f"{equity:.2f}", "last_equity": f"{equity:.2f}", "pattern_day_trader": False,
            "trading_blocked": False, "transfers_blocked": False, "account_blocked": False,
            "shorting_enabled": False, "multiplier": "1", "daytrade_count": 0,
        }

    def _order_json(self, order: dict) -> dict:
        now = datetime.now(timezone.utc).isoformat()
        return {
            "id": order["id"], "client_order_id": order["client_order_id"], "created_at": now,
            "updated_at": now, "submitted_at": now, "filled_at": now if order["status"] == "filled" else None,
            "asset_id": "00000000-0000-4000-8000-00000000000a", "symbol": order["symbol"],
            "asset_class": "us_equity", "qty": str(order["qty"]),
            "filled_qty": str(order["qty"] if order["status"] == "filled" else 0),
            "filled_avg_price": f"{order['price']}" if order["status"] == "filled" else None,
            "order_class": "simple", "order_type": "market", "type": "market", "side": order["side"],
            "time_in_force": order["time_in_force"], "status": order["status"], "extended_hours": False,
        }

    def _submit(self, body: dict) -> tuple[int, dict]:
        symbol, side = body.get("symbol"), body.get("side")
        try:
            qty = float(body.get("qty"))
        except (TypeError, ValueError):
            return 422, {"code": 40010001, "message": "qty is required"}
        if body.get("type") != "market" or side not in ("buy", "sell") or qty <= 0:
            return 422, {"code": 40010001, "message": "only positive-qty market buy/sell orders are supported"}
        if symbol not in self.prices:
            return 422, {"code": 40010001, "message": f"asset {symbol} not found"}
        price = self.prices[symbol]
        held = self.positions.get(symbol, {"qty": 0.0, "cost": 0.0})
        if side == "buy" and qty * price > self.cash:
            return 403, {"code": 40310000, "message": "insufficient buying power"}
        if side == "sell" and qty > held["qty"]:
            return 403, {"code": 40310000, "message": f"insufficient qty available for order (requested: {qty}, available: {held['qty']})"}
        # fill now; the order reports "accepted" until polled `fill_delay_polls` times
        if side == "buy":
            self.cash -= qty * price
            held = {"qty": held["qty"] + qty, "cost": held["cost"] + qty * price}
        else:
            avg = held["cost"] / held["qty"]
            self.cash += qty * price
            held = {"qty": held["qty"] - qty, "cost": held["cost"] - qty * avg}
        if held["qty"] > 0:
            self.positions[symbol] = held
        else:
            self.positions.pop(symbol, None)
        oid = str(uuid.uuid4())
        order = {"id": oid, "client_order_id": body.get("client_order_id") or str(uuid.uuid4()), "symbol": symbol,
                 "qty": qty, "side": side, "time_in_force": body.get("time_in_force", "day"), "price": price,
                 "status": "accepted" if self.fill_delay_polls > 0 else "filled", "polls": 0}
        self.orders[oid] = order
        return 200, self._order_json(order)

    def _get_order(self, oid: str) -> tuple[int, dict]:
        order = self.orders.get(oid)
        if order is None:
            return 404, {"code": 40410000, "message": "order not found"}
        order["polls"] += 1
        if order["polls"] >= self.fill_delay_polls:
            order["status"] = "filled"
        return 200, self._order_json(order)

    def _positions(self) -> tuple[int, list]:
        out = []
        for sym, p in sorted(self.positions.items()):
            price = self.prices[sym]
            avg = p["cost"] / p["qty"]
            out.append({
                "asset_id": "00000000-0000-4000-8000-00000000000a", "symbol": sym, "exchange": "NYSE",
                "asset_class": "us_equity", "avg_entry_price": f"{avg}", "qty": f"{p['qty']}", "side": "long",
                "market_value": f"{p['qty'] * price}", "cost_basis": f"{p['cost']}",
                "unrealized_pl": f"{p['qty'] * (price - avg)}", "current_price": f"{price}",
                "qty_available": f"{p['qty']}",
            })
        return 200, out

    def _route(self, method: str, path: str, query: dict, headers, body: dict | None):
        with self._lock:
            self.requests.append((method, path, query))
            if headers.get("APCA-API-KEY-ID") != self.key or headers.get("APCA-API-SECRET-KEY") != self.secret:
                err = dict(ERRORS[401])
                if self.echo_credentials_in_errors:
                    err["message"] += f" (key {headers.get('APCA-API-KEY-ID')}, secret {headers.get('APCA-API-SECRET-KEY')})"
                return 401, err
            if self._faults:
                status = self._faults.pop(0)
                return status, ERRORS.get(status, {"code": status * 100000, "message": "injected fault"})
            if method == "GET" and path == "/v2/stocks/bars":
                return self._bars(query)
            if method == "GET" and path == "/v2/account":
                return self._account()
            if method == "POST" and path == "/v2/orders":
                return self._submit(body or {})
            if method == "GET" and path.startswith("/v2/orders/"):
                return self._get_order(path.rsplit("/", 1)[1])
            if method == "GET" and path == "/v2/positions":
                return self._positions()
            return 404, ERRORS[404]

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                url = urlparse(self.path)
                body = None
                if method == "POST":
                    raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                    body = json.loads(raw) if raw else {}
                status, payload = server._route(method, url.path, parse_qs(url.query), self.headers, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802 (http.server's naming)
                self._serve("GET")

            def do_POST(self):  # noqa: N802
                self._serve("POST")

            def log_message(self, *args):  # keep test output quiet
                pass

        return Handler

"""Cash, long positions and P&L, with an accounting invariant checked after every change.

Two books are kept: the cash book (cash moves on every fill) and the P&L book (realized
P&L on sells at average cost, unrealized P&L on marks, fees). After every fill and mark the
portfolio checks that they agree:

    cash + Σ qty × last price  ==  initial cash + realized − fees + unrealized

A disagreement is a bookkeeping bug: it is counted in `invariant_violations`, kept in
`violations`, and raised as `InvariantViolation`.

>>> pf = Portfolio(10_000)
>>> pf.apply_fill("SPX", "buy", 10, 100.0, fee=1.0).qty
10.0
>>> pf.mark("SPX", 110.0)
>>> pf.equity(), pf.unrealized_pnl()
(10099.0, 100.0)
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass

INITIAL_CASH = 100_000.0
_QTY_EPS = 1e-12  # share quantities closer than this are the same holding


class OrderRejected(ValueError):
    """A fill the portfolio refuses (it would overdraw cash or sell more than is held)."""


class InvariantViolation(RuntimeError):
    """The cash book and the P&L book disagree: a bookkeeping bug, never a market event."""


@dataclass
class Position:
    """A long holding; `avg_price` is the average cost of the shares still held."""

    symbol: str
    qty: float = 0.0
    avg_price: float = 0.0
    last_price: float = 0.0

    @property
    def market_value(self) -> float:
        return self.qty * self.last_price

    @property
    def unrealized_pnl(self) -> float:
        return self.qty * (self.last_price - self.avg_price)


@dataclass(frozen=True)
class Fill:
    """One executed trade as the portfolio booked it."""

    symbol: str
    side: str
    qty: float
    price: float
    fee: float


class Portfolio:
    """A long-only cash account starting at `cash` (default $100,000); thread-safe."""

    def __init__(self, cash: float = INITIAL_CASH, *, rel_tolerance: float = 1e-9) -> None:
        if not cash > 0:
            raise ValueError(f"starting cash must be > 0, got {cash}")
        self.initial_cash = float(cash)
        self.cash = float(cash)
        self.positions: dict[str, Position] = {}
        self.realized_pnl = 0.0
        self.fees_paid = 0.0
        self.orders = 0
        self.fills = 0
        self.rejected = 0
        self.invariant_violations = 0
        self.violations: list[str] = []
        self.rejections: list[str] = []
        self._rel_tolerance = rel_tolerance
        self._lock = threading.RLock()

    # -- counters the brokers drive ----------------------------------------------------
    def order_submitted(self) -> None:
        with self._lock:
            self.orders += 1

    def order_rejected(self, reason: str) -> None:
        with self._lock:
            self.rejected += 1
            self.rejections.append(reason)

    # -- bookkeeping -------------------------------------------------------------------
    def apply_fill(self, symbol: str, side: str, qty: float, price: float, fee: float = 0.0) -> Fill:
        """Book a fill; raises `OrderRejected` (and counts it) if it would overdraw or go short."""
        qty, price, fee = float(qty), float(price), float(fee)
        if side not in ("buy", "sell"):
            raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")
        if not (qty > 0 and price > 0 and fee >= 0):
            raise ValueError(f"need qty > 0, price > 0, fee >= 0 (got {qty}, {price}, {fee})")
        with self._lock:
            pos = self.positions.get(symbol) or Position(symbol)
            if side == "buy":
                cost = qty * price + fee
                if cost > self.cash:
                    reason = f"{symbol}: buying {qty:g} at {price:.4f} costs {cost:.2f} > cash {self.cash:.2f}"
                    self.order_rejected(reason)
                    raise OrderRejected(reason)
                self.cash -= cost
                pos.avg_price = (pos.qty * pos.avg_price + qty * price) / (pos.qty + qty)
                pos.qty += qty
            else:
                if qty > pos.qty * (1 + _QTY_EPS) + _QTY_EPS:
                    reason = f"{symbol}: selling {qty:g} but holding {pos.qty:g} (long-only, no shorts)"
                    self.order_rejected(reason)
                    raise OrderRejected(reason)
                qty = min(qty, pos.qty)  # selling "all" may differ from the held float by rounding
                self.cash += qty * price - fee
                self.realized_pnl += qty * (price - pos.avg_price)
                pos.qty -= qty
            self.fees_paid += fee
            pos.last_price = price
            if pos.qty > _QTY_EPS:
                self.positions[symbol] = pos
            else:
                self.positions.pop(symbol, None)
            self.fills += 1
            self.check_invariant()
            return Fill(symbol, side, qty, price, fee)

    def mark(self, symbol: str, price: float) -> None:
        """Revalue a held symbol at `price` (no-op for symbols not held)."""
        with self._lock:
            pos = self.positions.get(symbol)
            if pos is not None:
                pos.last_price = float(price)
                self.check_invariant()

    # -- views -------------------------------------------------------------------------
    def market_value(self) -> float:
        with self._lock:
            return sum(p.market_value for p in self.positions.values())

    def equity(self) -> float:
        """Cash plus the market value of every position."""
        with self._lock:
            return self.cash + self.market_value()

    def unrealized_pnl(self) -> float:
        with self._lock:
            return sum(p.unrealized_pnl for p in self.positions.values())

    def check_invariant(self) -> None:
        """Raise `InvariantViolation` (and record it) if the two books disagree or cash is negative."""
        with self._lock:
            equity = self.equity()
            ledger = self.initial_cash + self.realized_pnl - self.fees_paid + self.unrealized_pnl()
            tolerance = max(1e-6, self._rel_tolerance * max(abs(equity), self.initial_cash))
            problem = None
            if abs(equity - ledger) > tolerance:
                problem = f"equity {equity:.6f} = cash + Σ qty×price, but the P&L book says {ledger:.6f}"
            elif self.cash < -tolerance:
                problem = f"cash is negative: {self.cash:.6f}"
            elif any(p.qty < 0 for p in self.positions.values()):
                problem = "a position went short in a long-only portfolio"
            if problem:
                self.invariant_violations += 1
                self.violations.append(problem)
                raise InvariantViolation(problem)

    @classmethod
    def restore(cls, snap: dict) -> "Portfolio":
        """A portfolio rebuilt from its `snapshot()`; `InvariantViolation` if the books disagree."""
        pf = cls(float(snap["initial_cash"]))
        pf.cash, pf.realized_pnl, pf.fees_paid = float(snap["cash"]), float(snap["realized_pnl"]), float(snap["fees_paid"])
        for key in ("orders", "fills", "rejected", "invariant_violations"):
            setattr(pf, key, int(snap.get(key, 0)))
        pf.positions = {s: Position(**p) for s, p in (snap.get("positions") or {}).items()}
        pf.check_invariant()  # a hand-edited or corrupted file is refused, not traded on
        return pf

    def snapshot(self) -> dict:
        """Counters and balances (the `portfolio` evidence of docs/contracts.md §5, plus P&L)."""
        with self._lock:
            return {
                "orders": self.orders, "fills": self.fills, "rejected": self.rejected,
                "invariant_violations": self.invariant_violations, "equity": self.equity(), "cash": self.cash,
                "initial_cash": self.initial_cash, "realized_pnl": self.realized_pnl,
                "unrealized_pnl": self.unrealized_pnl(), "fees_paid": self.fees_paid,
                "positions": {s: asdict(p) for s, p in sorted(self.positions.items())},
            }

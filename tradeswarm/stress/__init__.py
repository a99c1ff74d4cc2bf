"""The stress test: open/closed-loop load through the swarm, exact accounting, faults.

Public API: `run_stress` (the engine), `summarize` (latency summaries for every operation),
`Ledger` (the SQLite accounting), `parse_fault` / `as_faults` (fault helpers), `StressConfig`.
"""

from tradeswarm.stress.config import StressConfig
from tradeswarm.stress.engine import run_stress
from tradeswarm.stress.faults import FAULT_KINDS, Fault, FaultError, as_faults, parse_fault
from tradeswarm.stress.ledger import Ledger
from tradeswarm.stress.stats import summarize

__all__ = ["FAULT_KINDS", "Fault", "FaultError", "Ledger", "StressConfig", "as_faults",
           "parse_fault", "run_stress", "summarize"]

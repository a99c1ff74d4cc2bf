"""Trading agents and the pure strategies they run.

`tradeswarm.agents.strategies` holds the signal functions; a live agent and a backtest call
the same function, so what was backtested is what trades.
"""

__all__: list[str] = []

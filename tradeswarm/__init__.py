"""tradeswarm: certifies an automated trading swarm for production.

Every number a certification reports is measured in that run, by code that can fail.
The package holds the system under certification (sandboxes, market data, agents, the
swarm coordinator, broker, backtests, the stress engine) and the `tradeswarm` CLI.
"""

__version__ = "0.1.0"

__all__: list[str] = []

"""Commands of this group are registered here (see tradeswarm.cli)."""

"""The swarm: a coordinator that runs trading agents in sandboxes, dispatches tasks, decides by consensus.

See `tradeswarm.swarm.coordinator` for the lifecycle and `tradeswarm.swarm.consensus` for the
decision rule.
"""

from tradeswarm.swarm.consensus import Decision, Rule, Vote, decide
from tradeswarm.swarm.coordinator import Coordinator, DeployError
from tradeswarm.swarm.task import Task, TaskOutcome

__all__ = ["Coordinator", "Decision", "DeployError", "Rule", "Task", "TaskOutcome", "Vote", "decide"]

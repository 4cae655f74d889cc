"""The command side: commands, aggregates and the rules they enforce before an event exists.

Imports the `events` vocabulary and the `eventsourcing` library, nothing web or driver.
"""

from commands.application import CommandResult, PhotoShareCommands
from commands.messages import CommandContext

__all__ = ["CommandContext", "CommandResult", "PhotoShareCommands"]

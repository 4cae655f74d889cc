"""The command side: commands, aggregates and the rules they enforce before an event exists.

Imports the `events` vocabulary and the `eventsourcing` library, nothing web or driver.
"""

from photoshare.commands.application import CommandResult, PhotoShareCommands
from photoshare.commands.messages import CommandContext

__all__ = ["CommandContext", "CommandResult", "PhotoShareCommands"]

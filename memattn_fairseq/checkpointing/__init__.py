"""Checkpoints that survive a kill: atomic writes, resume from the newest complete checkpoint, one-line errors for
a checkpoint that cannot be read, and stored plugin options upgraded on reading (see each module)."""
from .atomic_write import atomic_checkpoint_writes
from .reading import readable_checkpoint_errors
from .resume import resume_from_newest_checkpoint
from .upgrade import upgrade_plugin_checkpoints


def install() -> None:
    atomic_checkpoint_writes()
    readable_checkpoint_errors()
    upgrade_plugin_checkpoints()
    resume_from_newest_checkpoint()

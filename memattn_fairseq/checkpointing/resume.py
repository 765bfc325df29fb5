"""Resuming from the newest complete checkpoint.

With the default ``--restore-file checkpoint_last.pt`` fairseq resumes from ``checkpoint_last.pt`` of --save-dir.
Before it reads that file, the plugin checks that it loads and that no checkpoint of the directory is newer (a save
killed after writing ``checkpoint_<epoch>_<updates>.pt`` but before copying it to ``checkpoint_last.pt``). If
``checkpoint_last.pt`` is damaged (it is then kept as ``checkpoint_last.pt.corrupt``) or older, the newest
checkpoint that loads is copied over it, a one-line warning says so, and training continues from there. With none
that loads, a one-line error names the file. In data-parallel training rank 0 decides and the others wait for it.
"""
import logging
import os
import re
from typing import List, Optional, Tuple

from fairseq import checkpoint_utils
from fairseq.distributed import utils as distributed_utils
from fairseq.file_io import PathManager

from ..errors import ConfigError
from ..fairseq_patch import wrap_once
from .atomic_write import copy_atomically
from .reading import failure

logger = logging.getLogger(__name__)
DEFAULT_RESTORE = "checkpoint_last.pt"


def checkpoint_files(save_dir: str, suffix: str) -> List[str]:
    """fairseq's own checkpoint names in ``save_dir`` (epoch, update, best, last), newest first; on equal times
    checkpoint_last comes first. Other files (averages, .tmp, .corrupt) are not resume points."""
    pattern = re.compile(r"^checkpoint(\d+|_\d+_\d+|_best|_last|\.best_.+)" + re.escape(suffix) + r"\.pt$")
    last = os.path.join(save_dir, f"checkpoint_last{suffix}.pt")
    paths = [os.path.join(save_dir, name) for name in os.listdir(save_dir) if pattern.match(name)]
    return sorted(paths, key=lambda p: (os.path.getmtime(p), p == last), reverse=True)


def newest_loadable(save_dir: str, suffix: str) -> Tuple[Optional[str], Optional[str]]:
    """(the newest checkpoint that loads or None, why checkpoint_last does not load or None)."""
    last = os.path.join(save_dir, f"checkpoint_last{suffix}.pt")
    last_failure = None
    for path in checkpoint_files(save_dir, suffix):
        why = failure(path)
        if why is None:
            return path, last_failure
        if path == last:
            last_failure = why
        else:
            logger.warning(f"{path} {why}: not a resume point")
    return None, last_failure


def restore_newest(save_dir: str, suffix: str) -> Optional[str]:
    """Make checkpoint_last the newest complete checkpoint; returns an error message when there is none."""
    last = os.path.join(save_dir, f"checkpoint_last{suffix}.pt")
    chosen, last_failure = newest_loadable(save_dir, suffix)
    if chosen == last:
        return None
    if chosen is None:
        return (f"checkpoint {last} {last_failure or 'does not load'} and no other checkpoint in {save_dir} loads; "
                f"move it away to start afresh")
    if last_failure is not None:
        os.replace(last, last + ".corrupt")
        logger.warning(f"{last} {last_failure}; resuming from {chosen}, the newest checkpoint that loads "
                       f"(the damaged file is kept as {os.path.basename(last)}.corrupt)")
    else:
        logger.warning(f"{chosen} is newer than {last} (a save was interrupted before its copy); resuming from it")
    copy_atomically(chosen, last)
    return None


def prepare_resume(cfg, trainer) -> None:
    suffix = trainer.checkpoint_suffix
    last = os.path.join(cfg.save_dir, f"checkpoint_last{suffix}.pt")
    if cfg.restore_file != DEFAULT_RESTORE or PathManager.path_requires_pathmanager(last) or not os.path.isfile(last):
        return  # an explicit --restore-file, a remote directory or a first launch: fairseq's own behaviour
    shared = suffix == "" and trainer.data_parallel_world_size > 1  # one file for every rank: rank 0 decides
    error = None
    if not shared or trainer.data_parallel_rank == 0:
        error = restore_newest(cfg.save_dir, suffix)
    if shared:
        error = distributed_utils.broadcast_object(error, src_rank=0, group=trainer.data_parallel_process_group,
                                                   dist_device=trainer.device)
    if error:
        raise ConfigError(error)


def resume_from_newest_checkpoint() -> None:
    @wrap_once(checkpoint_utils, "load_checkpoint", "resumes_from_newest")
    def wrap(original):
        def load_checkpoint(cfg, trainer, **passthrough_args):
            prepare_resume(cfg, trainer)
            return original(cfg, trainer, **passthrough_args)
        return load_checkpoint

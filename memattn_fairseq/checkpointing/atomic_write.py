"""Checkpoint files are replaced atomically: a run killed at any moment leaves each checkpoint complete or as it was.

fairseq 0.12 writes the first checkpoint of a save (``checkpoint_<epoch>_<updates>.pt``, ``checkpoint<epoch>.pt``
or ``checkpoint_best.pt``) through ``torch_persistent_save`` and then ``PathManager.copy``s it to the others,
``checkpoint_last.pt`` included; the copy writes the destination in place, so a kill during it truncates the file a
resume reads. Both are patched for local paths: every write goes to ``<name>.tmp`` in the same directory, is
fsynced, and replaces ``<name>`` with ``os.replace``. Remote (PathManager) paths and asynchronous writes keep
fairseq's own code.
"""
import contextlib
import functools
import os
import shutil

import torch
from fairseq import checkpoint_utils
from fairseq.file_io import PathManager

COPY_CHUNK = 16 << 20


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (not supported everywhere; best effort)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomically(path: str, write) -> None:
    """``write(file)`` into ``path``: readers see the old file or the complete new one, never a part."""
    tmp = path + ".tmp"  # fairseq's own temporary name: a leftover of a killed run is overwritten by the next save
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _fsync_directory(os.path.dirname(os.path.abspath(path)))


def copy_atomically(src: str, dst: str) -> None:
    with open(src, "rb") as source:
        write_atomically(dst, lambda f: shutil.copyfileobj(source, f, COPY_CHUNK))


def _is_local(*paths: str) -> bool:
    return not any(PathManager.path_requires_pathmanager(p) for p in paths)


def atomic_checkpoint_writes() -> None:
    original_save = checkpoint_utils.torch_persistent_save
    if getattr(original_save, "atomic", False):
        return

    @functools.wraps(original_save)
    def torch_persistent_save(obj, filename, async_write: bool = False):
        if async_write or not isinstance(filename, str) or not _is_local(filename):
            return original_save(obj, filename, async_write)
        write_atomically(filename, lambda f: torch.save(obj, f))

    torch_persistent_save.atomic = True
    checkpoint_utils.torch_persistent_save = torch_persistent_save

    original_copy = PathManager.copy

    def copy(src_path: str, dst_path: str, overwrite: bool = False):
        if not _is_local(src_path, dst_path):
            return original_copy(src_path, dst_path, overwrite)
        copy_atomically(src_path, dst_path)
        return dst_path  # what shutil.copyfile returns; fairseq asserts it is truthy

    PathManager.copy = staticmethod(copy)

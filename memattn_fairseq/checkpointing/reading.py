"""Reading checkpoints with one-line errors that name the file and what is wrong with it.

``failure(path)`` says why a file is not a loadable fairseq checkpoint (None when it is). fairseq's
``load_checkpoint_to_cpu``, which every tool uses (train --restore-file, eval-lm, generate, interactive, validate),
is patched to report an unreadable checkpoint as that one line instead of torch's traceback.
"""
import functools
import os
import re
from typing import Optional

import torch
from fairseq import checkpoint_utils

from ..errors import ConfigError, root_config_error
from ..fairseq_patch import wrap_once

ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since torch 1.6
PICKLE_MAGIC = b"\x80"  # the legacy format starts with a pickle


def _header(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read(4)


def _load(path: str):
    # mmap: the pickle is parsed and every tensor located without reading the tensor data
    return torch.load(path, map_location="cpu", mmap=_header(path) == ZIP_MAGIC, weights_only=True)


def _refused_name(text: str) -> Optional[str]:
    match = re.search(r"GLOBAL (\S+)", text) or re.search(r"but got <class '([^']+)'>", text)
    return match.group(1) if match else None


def reason(path: str, exc: BaseException) -> str:
    """What is wrong with ``path``, given the exception that loading it raised."""
    text = str(exc)
    refused = _refused_name(text) if "Weights only load failed" in text else None
    if refused:
        return f"holds {refused}, which a checkpoint may not contain (loading it could run code)"
    header = _header(path)
    # a zip archive's directory is at its end: a file cut short starts like one but has none
    no_directory = "central directory" in text or (header == ZIP_MAGIC and "not a ZIP archive" in text)
    if no_directory or isinstance(exc, EOFError) or "Ran out of input" in text:
        return "is truncated (a write that did not finish)"
    if header[:1] not in (ZIP_MAGIC[:1], PICKLE_MAGIC):
        return "is not a torch checkpoint (unrecognised contents)"
    first = next((line for line in text.splitlines() if line.strip()), "no detail")
    return f"is corrupt ({type(exc).__name__}: {first.split('. ')[0][:200]})"


def failure(path: str) -> Optional[str]:
    """Why ``path`` is not a loadable fairseq checkpoint, or None when it is."""
    if not os.path.isfile(path):
        return "does not exist"
    if os.path.getsize(path) == 0:
        return "is empty (0 bytes: a write that did not finish)"
    try:
        state = _load(path)
    except Exception as exc:  # torch's zip, pickle and weights-only errors
        return reason(path, exc)
    if not isinstance(state, dict) or "model" not in state:
        return "is not a fairseq checkpoint (it has no 'model' entry)"
    return None


def read_checkpoint(path: str) -> dict:
    """The checkpoint at ``path`` on the CPU; a ConfigError naming the file when it cannot be used."""
    if not os.path.isfile(path):
        raise ConfigError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConfigError(f"checkpoint {path} {failure(path) or reason(path, exc)}") from None
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise ConfigError(f"checkpoint {path} is not a fairseq checkpoint (it has no 'model' entry)")
    return state


def readable_checkpoint_errors() -> None:
    @wrap_once(checkpoint_utils, "load_checkpoint_to_cpu", "names_the_file")
    def wrap(original):
        def load_checkpoint_to_cpu(path, arg_overrides=None, load_on_all_ranks=False):
            try:
                return original(path, arg_overrides, load_on_all_ranks)
            except Exception as exc:
                if root_config_error(exc) is not None or not os.path.exists(path):
                    raise  # remote paths (PathManager) keep fairseq's own errors
                why = failure(path)
                if why is None:
                    raise  # the file is fine: the error is about something else
                raise ConfigError(f"checkpoint {path} {why}") from None
        return load_checkpoint_to_cpu

    original_ensemble = checkpoint_utils.load_model_ensemble_and_task

    @functools.wraps(original_ensemble)
    def load_model_ensemble_and_task(filenames, *args, **kwargs):
        try:
            return original_ensemble(filenames, *args, **kwargs)
        except OSError as exc:
            if not str(exc).startswith("Model file not found"):
                raise
            raise ConfigError(f"--path: checkpoint {str(exc).split(': ', 1)[-1]} does not exist") from None

    checkpoint_utils.load_model_ensemble_and_task = load_model_ensemble_and_task

"""fairseq's own failures on bad input, raised as the plugin's one-line errors instead of tracebacks.

- An input longer than the model's maximum positions (fairseq's "Size of sample #i is invalid" exception).
- An empty split: fairseq-preprocess writes an empty ``<split>.bin`` for an empty text file, which fairseq cannot map.
- A checkpoint whose parameters do not fit the model built here, above all a dictionary of another size (evaluating
  or resuming on a data directory other than the one the model was trained on).
- ``fairseq-eval-lm --context-window`` not smaller than ``--tokens-per-sample``: fairseq subtracts the window from
  the block before the task sees it, so the message is built from the values the user passed.
"""
import functools
import os

import torch
from fairseq import tasks
from fairseq.data import data_utils
from fairseq.models import BaseFairseqModel
from fairseq.tasks import TASK_REGISTRY, FairseqTask
from omegaconf import OmegaConf

from .errors import ConfigError, check

VOCABULARY_KEYS = ("embed_tokens.weight", "output_projection.weight", "embed_out")


def eval_context_window(task_cfg) -> int:
    """fairseq-eval-lm's --context-window, read from the run's config above the task's (0 elsewhere)."""
    if not OmegaConf.is_config(task_cfg):
        return 0
    return OmegaConf.select(task_cfg._get_root(), "eval_lm.context_window", default=0) or 0


def _too_long_inputs() -> None:
    original = FairseqTask.filter_indices_by_size

    @functools.wraps(original)
    def filter_indices_by_size(self, *args, **kwargs):
        try:
            return original(self, *args, **kwargs)
        except Exception as exc:
            if type(exc) is not Exception or not str(exc).startswith("Size of sample"):
                raise
            raise ConfigError(str(exc)) from None  # fairseq's text already names the flag that skips them

    FairseqTask.filter_indices_by_size = filter_indices_by_size


def _empty_splits() -> None:
    original = data_utils.load_indexed_dataset

    @functools.wraps(original)
    def load_indexed_dataset(path, *args, **kwargs):
        data = path + ".bin"
        check(not os.path.isfile(data) or os.path.getsize(data) > 0,
              f"{data} is empty: split {os.path.basename(path)!r} holds no text (re-run fairseq-preprocess on a "
              f"non-empty file, or leave the split out, e.g. --disable-validation)")
        return original(path, *args, **kwargs)

    data_utils.load_indexed_dataset = load_indexed_dataset


def _mismatch(own: dict, saved: dict) -> str:
    """What keeps ``saved`` (a checkpoint's parameters) from loading into ``own`` (the model's)."""
    shapes = [(k, tuple(v.shape), tuple(own[k].shape)) for k, v in saved.items()
              if k in own and torch.is_tensor(v) and v.shape != own[k].shape]
    for key, theirs, ours in shapes:
        if key.endswith(VOCABULARY_KEYS) and theirs[1:] == ours[1:]:
            return (f"the checkpoint was trained with a dictionary of {theirs[0]} entries, the data given here has "
                    f"{ours[0]} ({key}): pass the data directory the model was trained on")
    if shapes:
        key, theirs, ours = shapes[0]
        return (f"the checkpoint's {key} has shape {list(theirs)}, the model built from these options has "
                f"{list(ours)}: use the model options the checkpoint was trained with")
    missing, extra = sorted(set(own) - set(saved)), sorted(set(saved) - set(own))
    return (f"the checkpoint does not match the model built from these options (missing {missing[:2]}, "
            f"unexpected {extra[:2]}): use the model options the checkpoint was trained with")


def _checkpoint_mismatch() -> None:
    original = BaseFairseqModel.load_state_dict

    @functools.wraps(original)
    def load_state_dict(self, state_dict, strict=True, model_cfg=None, args=None):
        try:
            return original(self, state_dict, strict=strict, model_cfg=model_cfg, args=args)
        except RuntimeError as exc:
            if "Error(s) in loading state_dict" not in str(exc):
                raise
            raise ConfigError(_mismatch(self.state_dict(), state_dict)) from None

    BaseFairseqModel.load_state_dict = load_state_dict


def _context_window() -> None:
    original = tasks.setup_task

    @functools.wraps(original)
    def setup_task(cfg, **kwargs):
        window = eval_context_window(cfg)
        task = TASK_REGISTRY.get(getattr(cfg, "_name", None))
        tokens = getattr(cfg, "tokens_per_sample", None)
        if window > 0 and tokens is not None and not getattr(task, "contiguous_streams", False):
            check(tokens >= 1, f"--context-window={window} must be smaller than --tokens-per-sample={tokens + window}")
        return original(cfg, **kwargs)

    tasks.setup_task = setup_task


def one_line_input_errors() -> None:
    if getattr(FairseqTask.filter_indices_by_size, "__wrapped__", None) is not None:
        return
    _too_long_inputs()
    _empty_splits()
    _checkpoint_mismatch()
    _context_window()

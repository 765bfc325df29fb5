"""Reading a fairseq softmax checkpoint, building its bounded twin and writing that as a fresh fairseq checkpoint.

The twin keeps the source's architecture (every field of its stored model config) under the bounded model's name,
plus the bounded family's options. The written checkpoint is one that fairseq's tools load like their own: its
stored config describes the bounded model, its training state starts at update 0 (no optimiser state), so
``fairseq-train --finetune-from-model`` (or ``--restore-file`` with the ``--reset-*`` flags) continues from it.
"""
import argparse
import os
from dataclasses import dataclass
from typing import Dict

import torch
from fairseq import checkpoint_utils, tasks
from fairseq.models import ARCH_MODEL_NAME_REGISTRY, MODEL_REGISTRY
from omegaconf import OmegaConf, open_dict

from ..checkpointing.atomic_write import write_atomically
from ..errors import ConfigError, check
from ..models.language_model import MemAttnLanguageModel
from ..models.translation_model import MemAttnTransformerModel

SOURCE_MODEL = {"lm": "transformer_lm", "mt": "transformer"}  # the softmax model each kind converts from


def targets() -> Dict[str, type]:
    """The bounded models a softmax checkpoint converts into, by name (abc_lm, memsizer_transformer, ...)."""
    bases = (MemAttnLanguageModel, MemAttnTransformerModel)
    return {name: cls for name, cls in sorted(MODEL_REGISTRY.items())
            if issubclass(cls, bases) and cls.options_dataclass is not None}


def kind_of(target: str) -> str:
    return "lm" if issubclass(targets()[target], MemAttnLanguageModel) else "mt"


@dataclass
class Source:
    path: str
    state: dict  # fairseq's checkpoint, as checkpoint_utils.load_checkpoint_to_cpu returns it

    @property
    def model_config(self):
        return self.state["cfg"].model


def read_source(path: str, target: str) -> Source:
    """The checkpoint at ``path``, checked to be a fairseq softmax model that ``target`` converts from."""
    check(os.path.isfile(path), f"source checkpoint {path} does not exist")
    state = checkpoint_utils.load_checkpoint_to_cpu(path)  # the plugin's patch: one line for an unreadable file
    cfg = state.get("cfg")
    check(cfg is not None and cfg.get("model") is not None,
          f"source checkpoint {path} holds no model config (not written by fairseq-train)")
    model_cfg = cfg.model
    arch = getattr(model_cfg, "_name", None) or getattr(model_cfg, "arch", None)
    source_model = ARCH_MODEL_NAME_REGISTRY.get(arch, arch)
    expected = SOURCE_MODEL[kind_of(target)]
    check(source_model == expected, f"--to {target} converts a fairseq {expected} checkpoint; {path} holds a "
                                    f"{source_model} model (--arch {arch})")
    return Source(path, state)


def setup_task(source: Source, data: str = None):
    """fairseq's task of the source, reading its dictionaries from ``data`` (default: where the source was trained)."""
    task_cfg = source.state["cfg"].task
    if data:
        with open_dict(task_cfg):
            task_cfg.data = data
    try:
        return tasks.setup_task(task_cfg)
    except FileNotFoundError as exc:
        raise ConfigError(f"--data: {task_cfg.data} lacks {os.path.basename(exc.filename or '?')}; give the "
                          f"binarised data the source was trained on") from None


def target_config(source: Source, target: str, options: Dict[str, object]):
    """The source's model config under the name ``target`` with the bounded family's ``options``."""
    model_cfg = source.model_config
    legacy = isinstance(model_cfg, argparse.Namespace)  # argparse models (transformer) store a Namespace
    values = dict(vars(model_cfg)) if legacy else OmegaConf.to_container(model_cfg, resolve=True)
    values.update(options, _name=target)
    if kind_of(target) == "lm":  # the plugin LMs are pre-norm unless told (models/language_model.py)
        values["decoder_post_norm"] = not values.get("decoder_normalize_before", False)
    if legacy:
        values["arch"] = target
        return argparse.Namespace(**values)
    return OmegaConf.create(values)


def write_target(path: str, source: Source, config, model_state: Dict[str, torch.Tensor], record: dict) -> None:
    """Write the bounded model as a fairseq checkpoint at update 0 (atomically: complete or not at all)."""
    cfg = OmegaConf.to_container(source.state["cfg"])
    cfg["model"] = config if isinstance(config, argparse.Namespace) else OmegaConf.to_container(config)
    last = source.state["optimizer_history"][-1]
    state = {
        "args": None,
        "cfg": cfg,
        "model": model_state,
        "criterion": source.state.get("criterion"),
        "optimizer_history": [{"criterion_name": last["criterion_name"], "optimizer_name": last["optimizer_name"],
                               "lr_scheduler_state": {"best": None}, "num_updates": 0}],
        "task_state": source.state.get("task_state", {}),
        "extra_state": {"train_iterator": {"epoch": 1, "iterations_in_epoch": 0}, "val_loss": None},
        "last_optimizer_state": None,
        "conversion": record,
    }
    write_atomically(path, lambda f: torch.save(state, f))

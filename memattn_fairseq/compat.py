"""Checkpoint loading under torch >= 2.6, where ``torch.load`` defaults to ``weights_only=True``.

fairseq 0.12 checkpoints of argparse-registered models (``transformer``, ``abc_transformer``, ...) pickle their
config as an ``argparse.Namespace`` and may hold numpy scalars; registering those types as safe lets
fairseq-generate / eval-lm / interactive load them without any environment variable. Distributed resume, where
rank 0 broadcasts the loaded state as a pickle, also carries the omegaconf containers of the config.
"""
import argparse
import collections
import typing

import torch
from omegaconf import DictConfig, ListConfig
from omegaconf.base import ContainerMetadata, Metadata
from omegaconf.nodes import AnyNode


def allow_fairseq_checkpoints() -> None:
    serialization = torch.serialization
    if not hasattr(serialization, "add_safe_globals"):
        return  # torch < 2.4 loads full pickles by default
    safe = [argparse.Namespace, collections.defaultdict, dict, list, int, typing.Any,
            DictConfig, ListConfig, ContainerMetadata, Metadata, AnyNode]
    try:
        import numpy as np

        safe += [np.dtype, np.ndarray, type(np.dtype("float64")), type(np.dtype("int64"))]
        core = getattr(np, "_core", None) or np.core
        safe.append(core.multiarray._reconstruct)
        safe.append(core.multiarray.scalar)
    except (ImportError, AttributeError):
        pass
    serialization.add_safe_globals(safe)

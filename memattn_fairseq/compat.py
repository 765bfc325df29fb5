"""Checkpoint loading under torch >= 2.6, where ``torch.load`` defaults to ``weights_only=True``.

fairseq 0.12 checkpoints of argparse-registered models (``transformer``, ``abc_transformer``, ...) pickle their
config as an ``argparse.Namespace``, and their extra state may hold numpy scalars and arrays (``val_loss`` and
``best`` are often ``np.float64``). Registering exactly those types as safe lets every fairseq tool load them without
any environment variable, while a pickle that names anything else (``os.system``, an object array) is still refused.
Distributed resume, where rank 0 broadcasts the loaded state as a pickle, also carries the omegaconf containers of
the config and fairseq's placeholders for the tensors it sends separately.
"""
import argparse
import collections
import typing

import numpy as np
import torch
from fairseq.distributed.utils import _TensorPlaceholder
from numpy.core import multiarray
from omegaconf import DictConfig, ListConfig
from omegaconf.base import ContainerMetadata, Metadata
from omegaconf.nodes import AnyNode

# numeric dtypes only: an object array would unpickle arbitrary Python objects
NUMPY_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                "float16", "float32", "float64")


def numpy_globals() -> list:
    """What numpy scalars and arrays pickle as: the reconstruction functions under the module path numpy 1.x writes
    (``numpy.core.multiarray``) and the one numpy 2 writes (``numpy._core.multiarray``), ``numpy.dtype`` and
    ``numpy.ndarray``, and the dtype classes whose instances are rebuilt from their pickled state."""
    found = []
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        found += [(multiarray.scalar, f"{module}.scalar"), (multiarray._reconstruct, f"{module}._reconstruct")]
    found += [np.dtype, np.ndarray]
    found += [type(np.dtype(name)) for name in NUMPY_DTYPES]
    return found


def allow_fairseq_checkpoints() -> None:
    serialization = torch.serialization
    if not hasattr(serialization, "add_safe_globals"):
        return  # torch < 2.4 loads full pickles by default
    safe = [argparse.Namespace, collections.defaultdict, dict, list, int, typing.Any,
            DictConfig, ListConfig, ContainerMetadata, Metadata, AnyNode, _TensorPlaceholder]
    serialization.add_safe_globals(safe + numpy_globals())

"""fairseq's incremental state, as every decoder of the plugin handles it: rows reordered for beam search, bytes
counted for the state-size figures.

fairseq's incremental state maps each module's key to a buffer: a dict of cached tensors (or None), one row per
hypothesis on dim 0 in every buffer of the plugin.
"""
from typing import Dict, Iterable, Optional

import torch
from torch import Tensor

Buffer = Dict[str, Optional[Tensor]]


def reorder_rows(buffer: Buffer, new_order: Tensor) -> Buffer:
    """Beam search: the rows of the surviving hypotheses (permuted, duplicated or fewer)."""
    return {name: None if t is None else t.index_select(0, new_order) for name, t in buffer.items()}


def tensor_bytes(tensors: Iterable[Optional[Tensor]]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor))


def state_bytes(incremental_state: Dict[str, Optional[Buffer]]) -> int:
    """Bytes of every tensor a decoder keeps between steps (KV caches, compressed memories, counters)."""
    return sum(tensor_bytes((buffer or {}).values()) for buffer in incremental_state.values())

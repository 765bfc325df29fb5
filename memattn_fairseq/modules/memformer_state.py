"""The recurrent state Memformer carries between segments and between batches.

``RecurrentState``: what one batch of B streams needs to continue; the decoder takes one and returns the next.
    memory       [B,K,C] the memory the encoder reads together with the previous segment, or None at the start
                 of the streams (the model then uses its learned initial memory, inside the graph)
    prev_inputs  [B,P] the previous segment's decoder inputs (P = 0 at the start of the streams)

Which state a batch of a split continues from is the task's concern (tasks/memformer_streams.py).
"""
from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor


@dataclass
class RecurrentState:
    memory: Optional[Tensor]
    prev_inputs: Tensor

    @classmethod
    def fresh(cls, batch_size: int, device=None) -> "RecurrentState":
        return cls(None, torch.zeros(batch_size, 0, dtype=torch.long, device=device))

    @property
    def batch_size(self) -> int:
        return self.prev_inputs.size(0)

    def detach(self) -> "RecurrentState":
        return RecurrentState(None if self.memory is None else self.memory.detach(), self.prev_inputs)

    def to(self, like: Tensor) -> "RecurrentState":
        """On ``like``'s device, memory in ``like``'s dtype."""
        memory = None if self.memory is None else self.memory.to(device=like.device, dtype=like.dtype)
        return RecurrentState(memory, self.prev_inputs.to(like.device))

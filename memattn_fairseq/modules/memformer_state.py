"""The recurrent state Memformer carries between segments and between batches.

``RecurrentState``: what one batch of B streams needs to continue.
    memory       [B,K,C] the memory the encoder reads together with the previous segment, or None at the start
                 of the streams (the model then uses its learned initial memory, inside the graph)
    prev_inputs  [B,P] the previous segment's decoder inputs (P = 0 at the start of the streams)

``RecurrenceCarry``: a mutable holder passed in ``net_input["carry"]``; the model reads ``state_in`` and writes
``state_out``. The training step uses it to thread (and back-propagate through) the state segment by segment.

``StreamPosition``: passed in ``net_input["stream"]`` by the task's collater: which split, and which block of it
(block 0 = the streams start). ``StreamRegistry`` keeps the state each split's streams reached, so consecutive
batches continue their streams; the rule for which state a block gets:
    block 0                                    a fresh state (start of a split, of every epoch)
    block i after block i-1 was processed      the state block i-1 ended with (carried, detached)
    block i again (a replayed batch)           the state block i started from
    anything else (a jump, a new batch size)   a fresh state, logged once
Training streams go into checkpoints (the model's extra state), so a resumed run continues its streams when the
data iterator resumes at the block the checkpoint expects; otherwise the rule above starts them afresh.
"""
import logging
from dataclasses import dataclass
from typing import Dict, Optional

import torch
from torch import Tensor

logger = logging.getLogger(__name__)


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


class RecurrenceCarry:
    def __init__(self, state_in: RecurrentState):
        self.state_in = state_in
        self.state_out: Optional[RecurrentState] = None


@dataclass(frozen=True)
class StreamPosition:
    split: str
    block: int


@dataclass
class _Stream:
    next_block: int
    state: RecurrentState
    last_block: int
    last_state_in: Optional[RecurrentState]
    training: bool
    restored: bool = False  # loaded from a checkpoint and not used yet


class StreamRegistry:
    def __init__(self):
        self._streams: Dict[str, _Stream] = {}
        self._warned = set()

    def state_for(self, position: StreamPosition, batch_size: int) -> Optional[RecurrentState]:
        """The state block ``position.block`` continues from; None = fresh (see the rule at the top)."""
        stream = self._streams.get(position.split)
        if position.block == 0 or stream is None:
            if position.block != 0:
                self._note(position, "no carried memory")
            return None
        if stream.next_block == position.block and stream.state.batch_size == batch_size:
            if stream.restored:
                stream.restored = False
                logger.info(f"memformer: split {position.split!r} continues its streams from the checkpoint's "
                            f"memory at block {position.block}")
            return stream.state
        if stream.last_block == position.block and stream.state.batch_size == batch_size:
            return stream.last_state_in
        self._note(position, f"carried memory is for block {stream.next_block} of {stream.state.batch_size} rows")
        return None

    def commit(self, position: StreamPosition, state_in: Optional[RecurrentState], state_out: RecurrentState,
               training: bool) -> None:
        self._streams[position.split] = _Stream(
            position.block + 1, state_out.detach(), position.block, state_in, training
        )

    def reset_evaluation(self) -> None:
        """Forget the streams last advanced in evaluation mode (validation splits)."""
        for split in [split for split, s in self._streams.items() if not s.training]:
            del self._streams[split]

    def _note(self, position: StreamPosition, why: str) -> None:
        key = (position.split, position.block)
        if key not in self._warned:
            self._warned.add(key)
            logger.info(f"memformer: {why}; split {position.split!r} starts its streams afresh at block "
                        f"{position.block}")

    # -- checkpoints (plain containers only: they load with torch.load(weights_only=True)) -------------------
    def checkpoint_state(self) -> dict:
        return {
            split: {"next_block": s.next_block, "memory": s.state.memory, "prev_inputs": s.state.prev_inputs}
            for split, s in self._streams.items()
            if s.training
        }

    def load_checkpoint_state(self, saved: dict) -> None:
        for split, s in (saved or {}).items():
            state = RecurrentState(s["memory"], s["prev_inputs"])
            self._streams[split] = _Stream(s["next_block"], state, -1, None, training=True, restored=True)
            logger.info(f"memformer: restored the carried memory of split {split!r} ({state.batch_size} streams), "
                        f"valid if training resumes at block {s['next_block']}")

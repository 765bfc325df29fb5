"""Which recurrent state each batch of ``--task memformer_lm`` continues from: the task's stream tracking.

The decoder takes a state and returns the next one (``model(tokens, state=...)`` -> ``(logits, {"state": ...})``);
it knows nothing of splits or batches. The task's collater tags each batch with its ``StreamPosition`` (which split,
which block of it: block 0 = the streams start), and a ``StreamRegistry`` attached to the model keeps the state
each split's streams reached. The rule for which state a block gets:

    block 0                                    a fresh state (start of a split, of every epoch)
    block i after block i-1 was processed      the state block i-1 ended with (carried, detached)
    block i again (a replayed batch)           the state block i started from
    anything else (a jump, a new batch size)   a fresh state, logged once

The registry is a parameter-free submodule of the model, so the training streams go into checkpoints (its extra
state) and a resumed run continues them when the data iterator resumes at the block the checkpoint expects. Model
calls that carry ``stream=position`` (validation through the criterion, fairseq-eval-lm's scorer) are translated
into ``state=...`` by a forward pre-hook and their returned state is committed by a forward hook; the train step
looks up and commits its own (tasks/memformer_lm_task.py).
"""
import logging
from dataclasses import dataclass
from typing import Dict, Optional

from torch import nn

from ..modules.memformer_state import RecurrentState

logger = logging.getLogger(__name__)
LEGACY_KEY = "decoder._extra_state"  # where checkpoints kept the streams when the decoder tracked them


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


class StreamRegistry(nn.Module):
    def __init__(self):
        super().__init__()
        self._streams: Dict[str, _Stream] = {}
        self._warned = set()
        self._pending: Optional[StreamPosition] = None  # the position of the model call under way

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

    # -- model calls tagged with stream=position ----------------------------------------------------------------
    def attach(self, model: nn.Module) -> None:
        """Become ``model.streams`` and serve the model's calls that name a stream position."""
        model.add_module("streams", self)
        model.register_forward_pre_hook(self._before_call, with_kwargs=True)
        model.register_forward_hook(self._after_call, with_kwargs=True)

    def _before_call(self, model, args, kwargs):
        self._pending = kwargs.pop("stream", None)
        if self._pending is None:
            return None
        tokens = args[0] if args else kwargs["src_tokens"]  # [B,T]
        return args, dict(kwargs, state=self.state_for(self._pending, tokens.size(0)))

    def _after_call(self, model, args, kwargs, output):
        if self._pending is not None:
            self.commit(self._pending, kwargs["state"], output[1]["state"], training=model.training)
            self._pending = None

    # -- checkpoints (plain containers only: they load with torch.load(weights_only=True)) -------------------
    def get_extra_state(self) -> dict:
        return {
            split: {"next_block": s.next_block, "memory": s.state.memory, "prev_inputs": s.state.prev_inputs}
            for split, s in self._streams.items()
            if s.training
        }

    def set_extra_state(self, saved: dict) -> None:
        for split, s in (saved or {}).items():
            state = RecurrentState(s["memory"], s["prev_inputs"])
            self._streams[split] = _Stream(s["next_block"], state, -1, None, training=True, restored=True)
            logger.info(f"memformer: restored the carried memory of split {split!r} ({state.batch_size} streams), "
                        f"valid if training resumes at block {s['next_block']}")

    def upgrade_state_dict_named(self, state_dict: dict, name: str) -> None:
        """Checkpoints written while the decoder kept the streams hold them under ``decoder._extra_state``; a
        checkpoint of a model built outside the task holds none."""
        legacy = state_dict.pop(LEGACY_KEY, None) or {}
        state_dict.setdefault(f"{name}._extra_state", legacy.get("streams") or {})

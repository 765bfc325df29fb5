"""Serving throughput: batched generation after a long prefix, with a fixed memory budget for the decoder state.

One sequence's state after ``prefix`` tokens sets each model's batch: the most sequences whose states fit in
``budget_bytes`` (a softmax model's KV cache grows with the prefix, a bounded model's state does not). The state is
primed once at batch 1 and copied to every row through the decoder's own ``reorder_incremental_state`` (a
repeated order, as beam search duplicates hypotheses); whole-decoder steps are then timed at that batch, and
tokens/s = batch / seconds per step.

Memformer is not served here: its state peaks within a segment (the segment's own cache) and one step in each
segment also runs the encoder and the memory writer, so neither one sequence's state at the prefix nor a per-step
median stands for it; decode_lm times it over whole segments.
"""
from typing import Dict

import torch

from ..modules.incremental_state import state_bytes
from .decoding import prime_self_attention
from .measure import seconds_per_call


@torch.no_grad()
def serving(model, prefix: int, budget_bytes: float, device, warmup: int, repeats: int, vocab: int) -> Dict[str, float]:
    decoder = model.decoder
    tokens = torch.randint(4, vocab, (1, prefix + warmup + repeats + 1), device=device)  # [1,T]
    state: Dict = {}
    prime_self_attention(decoder, state, 1, prefix, device)
    per_sequence = state_bytes(state)
    batch = max(1, int(budget_bytes // per_sequence))
    decoder.reorder_incremental_state_scripting(state, torch.zeros(batch, dtype=torch.long, device=device))
    tokens = tokens.expand(batch, -1)  # [batch,T]
    steps = iter(range(prefix + 1, tokens.size(1) + 1))

    def step():
        decoder(tokens[:, : next(steps)], incremental_state=state)

    seconds = seconds_per_call(step, device, warmup, repeats)
    return {**seconds.inverse(batch).columns("tokens_per_s"), "sequences": batch, "state_bytes": per_sequence}

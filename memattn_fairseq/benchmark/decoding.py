"""Incremental decoding: per-token latency and decoder-state bytes against prefix (LM) or source (MT) length.

The prefix is written into the incremental state by calling each layer's self-attention on random hidden states
in blocks (so a 16k-token prefix costs seconds, not 16k decoder steps); the timed steps then run the whole decoder
on one new token per sequence, as fairseq's sequence generator does.
"""
import time
from typing import Dict, Iterator

import torch

from ..modules.memformer_state import RecurrentState
from ..modules.incremental_state import state_bytes
from .measure import Spread, seconds_per_call, synchronize

PRIME_BLOCK = 512


@torch.no_grad()
def prime_self_attention(decoder, state: Dict, batch: int, prefix: int, device) -> None:
    """Fill every layer's self-attention state with ``prefix`` tokens of random hidden states."""
    dim = decoder.embed_dim
    for layer in decoder.layers:
        for start in range(0, prefix, PRIME_BLOCK):
            block = torch.randn(min(PRIME_BLOCK, prefix - start), batch, dim, device=device) * 0.5  # [T,B,C]
            layer.self_attn(block, block, block, incremental_state=state)


@torch.no_grad()
def lm_decoding(model, batch: int, prefix: int, device, warmup: int, repeats: int, vocab: int) -> Dict[str, float]:
    decoder = model.decoder
    state: Dict = {}
    prime_self_attention(decoder, state, batch, prefix, device)
    length = prefix + warmup + repeats + 1
    tokens = torch.randint(4, vocab, (batch, length), device=device)
    steps: Iterator[int] = iter(range(prefix + 1, length + 1))

    def step():
        decoder(tokens[:, : next(steps)], incremental_state=state)

    seconds = seconds_per_call(step, device, warmup, repeats)
    return {**seconds.scaled(1e3).columns("ms_per_token"), "state_bytes": state_bytes(state) / batch}


@torch.no_grad()
def mt_decoding(model, batch: int, source: int, device, warmup: int, repeats: int, vocab: int) -> Dict[str, float]:
    """Decoding steps against a source of ``source`` tokens (the encoder output is random, of that length)."""
    dim = model.encoder.embed_tokens.embedding_dim
    encoder_out = {
        "encoder_out": [torch.randn(source, batch, dim, device=device) * 0.5],  # [S,B,C]
        "encoder_padding_mask": [],
        "encoder_embedding": [],
        "encoder_states": [],
        "src_tokens": [],
        "src_lengths": [],
    }
    length = warmup + repeats + 2
    tokens = torch.randint(4, vocab, (batch, length), device=device)
    state: Dict = {}
    model.decoder(tokens[:, :1], encoder_out=encoder_out, incremental_state=state)  # caches the source memory
    steps = iter(range(2, length + 1))

    def step():
        model.decoder(tokens[:, : next(steps)], encoder_out=encoder_out, incremental_state=state)

    seconds = seconds_per_call(step, device, warmup, repeats)
    return {**seconds.scaled(1e3).columns("ms_per_token"), "state_bytes": state_bytes(state) / batch}


@torch.no_grad()
def prime_memformer(decoder, state: Dict, tokens: torch.Tensor, prefix: int, device) -> None:
    """Fold the first ``prefix`` of ``tokens`` [B, >prefix] into Memformer's state: the whole segments through the
    memory writer (``advance``), the rest step by step."""
    segment = decoder.segment_length
    whole = prefix - prefix % segment
    if whole:
        carried = RecurrentState.fresh(tokens.size(0), device).to(decoder.memory_norm.bias)
        for inputs in tokens[:, :whole].split(segment, dim=1):  # [B,L] each
            carried = decoder.advance(inputs, carried)
        decoder.continue_incremental_state(state, carried)
    for end in range(whole + 1, prefix + 1):
        decoder(tokens[:, :end], incremental_state=state)


@torch.no_grad()
def memformer_decoding(model, batch: int, prefix: int, device, warmup: int, repeats: int, vocab: int) -> Dict[str, float]:
    """Memformer: the prefix is folded into the memory (``prime_memformer``); then each of ``repeats`` samples is
    the mean latency over one full segment of steps, since a segment's first step also runs the encoder and the
    memory writer (a per-step median would hide that step)."""
    decoder = model.decoder
    segment = decoder.segment_length
    tokens = torch.randint(4, vocab, (batch, prefix + (warmup + repeats) * segment + 1), device=device)
    state: Dict = {}
    prime_memformer(decoder, state, tokens, prefix, device)
    steps = iter(range(prefix + 1, tokens.size(1) + 1))

    def step():
        decoder(tokens[:, : next(steps)], incremental_state=state)

    for _ in range(warmup * segment):
        step()
    samples = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        for _ in range(segment):
            step()
        synchronize(device)
        samples.append((time.perf_counter() - start) / segment)
    return {**Spread.of(samples).scaled(1e3).columns("ms_per_token"),
            "state_bytes": state_bytes(state) / batch}

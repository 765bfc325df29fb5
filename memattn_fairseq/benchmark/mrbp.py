"""The benchmark's ``mrbp`` section: peak memory and time of one Memformer train step against the horizon H.

For each H, one batch row of H segments (fresh streams, random tokens) goes through ``recurrent_train_step`` in
both modes: ``memformer_mrbp`` (flat in H) and ``memformer_full`` (full BPTT: grows with H). The model has
--layers decoder layers and a quarter as many encoder layers (the paper's 4 + 16), --dim, --heads, --ffn,
--slots memory slots and segments of 64 tokens (16 with --quick); dropout off.
"""
from typing import Callable, Dict, List

import torch

from .. import model_factory
from ..tasks.memformer_stream_data import block_sample
from ..training.memformer_mrbp import recurrent_train_step
from .measure import peak_bytes, seconds_per_call
from .training import cross_entropy


def segment_length(args) -> int:
    """Memformer's segment length in the benchmark: 64 tokens (16 with --quick)."""
    return 16 if getattr(args, "quick", False) else 64


def build_memformer(args, device, segment_length: int):
    model = model_factory.build(
        "memformer_lm", vocab_size=args.vocab, encoder_layers=max(1, args.layers // 4), decoder_layers=args.layers,
        decoder_embed_dim=args.dim, decoder_ffn_embed_dim=args.ffn, decoder_attention_heads=args.heads,
        memformer_slots=args.slots, memformer_segment_length=segment_length, share_decoder_input_output_embed=True,
        dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
    )
    return model.to(device).train()


def rows(args, device, horizons: List[int], progress: Callable[[str], None]) -> List[Dict[str, object]]:
    segment = segment_length(args)
    model = build_memformer(args, device, segment)
    dictionary = model.decoder.dictionary
    criterion = cross_entropy(dictionary)
    out = []
    for horizon in horizons:
        sample = block_sample(torch.randint(4, args.vocab, (1, horizon * segment), device=device), dictionary)
        for mode in ("full", "mrbp"):
            progress(f"mrbp memformer_{mode} horizon {horizon}")

            def step():
                model.zero_grad(set_to_none=True)
                recurrent_train_step(model, criterion, sample, mode=mode)

            seconds = seconds_per_call(step, device, max(1, args.warmup // 2), max(2, args.repeats // 3))
            model.zero_grad(set_to_none=True)
            out.append(dict(section="mrbp", model=f"memformer_{mode}", batch=1, length=horizon,
                            **seconds.columns("seconds"), peak_bytes=peak_bytes(step, device), segment_length=segment))
    return out

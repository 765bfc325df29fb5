"""Checks shared by every family: incremental decoding == full forward, beam reorder, no state-key collision.

``decoder`` is a fairseq incremental decoder; ``encoder_out`` is None for language models.
"""
import torch


def full_logits(decoder, tokens, encoder_out=None):
    return decoder(tokens, encoder_out=encoder_out)[0]  # [B,T,V]


def incremental_logits(decoder, tokens, encoder_out=None, state=None):
    """Feed ``tokens`` [B,T] one step at a time, as fairseq's sequence generator does; returns [B,T,V]."""
    state = {} if state is None else state
    steps = [decoder(tokens[:, : t + 1], encoder_out=encoder_out, incremental_state=state)[0] for t in range(tokens.shape[1])]
    return torch.cat(steps, dim=1)


def assert_incremental_matches_full(decoder, tokens, encoder_out=None, atol=1e-5):
    full = full_logits(decoder, tokens, encoder_out)
    inc = incremental_logits(decoder, tokens, encoder_out)
    err = (full - inc).abs().max().item()
    assert err < atol, f"incremental decoding differs from the full forward by {err}"


def assert_beam_reorder(decoder, tokens, order, encoder_out=None, reorder_encoder_out=None, prefix=5, atol=1e-5):
    """Advance ``prefix`` steps, reorder with ``order`` (may shrink/duplicate rows), then the next step must
    equal a full forward on ``tokens[order]``."""
    state = {}
    incremental_logits(decoder, tokens[:, :prefix], encoder_out, state=state)
    decoder.reorder_incremental_state_scripting(state, order)
    enc = reorder_encoder_out(encoder_out, order) if encoder_out is not None else None
    step = decoder(tokens[order][:, : prefix + 1], encoder_out=enc, incremental_state=state)[0]
    ref = full_logits(decoder, tokens[order][:, : prefix + 1], enc)[:, -1:]
    err = (step - ref).abs().max().item()
    assert err < atol, f"after reorder the next step differs by {err}"


def state_keys(state):
    return sorted(state.keys())

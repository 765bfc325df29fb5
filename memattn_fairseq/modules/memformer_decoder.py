"""Memformer as one fairseq incremental decoder: segment-level recurrence over a contiguous token stream.
(Layers in memformer_layers.py, memory in memformer_memory.py, carried state in memformer_state.py.)

Token convention (fairseq's): ``prev_output_tokens`` [B,T] are decoder *inputs*; output t predicts the token
that follows input t. A stream starts with eos as its first input. The stream is cut into segments of L inputs
(``segment_length``); for segment k with inputs X_k and state (M, P) = (memory, previous segment's inputs):

    encoder tokens  E_k = [P[1:] ; X_k[0]]       the previous segment's *targets* ([eos] at a stream start)
    H_k             = Encoder(E_k, M)            bidirectional, reading M in every layer        [S,B,C]
    M'              = BMN(Writer(M, H_k))        slot attention on top of the encoder, forgetting
    logits_k        = Decoder(X_k | H_k)         causal within the segment, cross-attending to H_k
    next state      = (M', X_k)

So a token sees its own segment's prefix, the previous segment (through H_k) and everything older through the
K memory slots. Positions restart at every segment. The decoder takes its state and returns the next one:

    forward(tokens)                        a fresh stream -> (logits, {"state": the state after it, ...})
    forward(tokens, state=RecurrentState)  continue ``state`` (which state a batch continues from is the task's
                                           concern: tasks/memformer_streams.py)
    forward(tokens, incremental_state=..)  generation, one new input per call, constant memory for any length

Incremental state (batch-first, reordered by index_select on dim 0): memory [B,K,C], hidden [B,S,C],
hidden_pad [B,S] (when the encoder input had padding), segment [B,n] (inputs of the current segment so far),
plus the segment decoder's own layer caches, cleared whenever a new segment starts.

Rows whose stream has ended inside a batch (right padding, the last block of a split) keep their memory, and
their all-padding segments are run on eos so that no attention row is empty (their outputs are never scored).
"""
import sys
from typing import Dict, Optional, Tuple

import torch
from fairseq.models import FairseqIncrementalDecoder
from fairseq.models.transformer import TransformerConfig
from torch import Tensor

from ..errors import check_parameter
from .incremental_state import reorder_rows
from .memformer_layers import SegmentDecoder, SegmentEncoder
from .memformer_memory import BiasedMemoryNorm, SlotAttentionWriter
from .memformer_state import RecurrentState


class MemformerDecoder(FairseqIncrementalDecoder):
    def __init__(
        self,
        cfg: TransformerConfig,
        dictionary,
        embed_tokens,
        encoder_embed_tokens,
        segment_length: int,
        num_slots: int,
        write_heads: int,
        write_temperature: float = 0.5,
        memory_norm: str = "l2",
        forgetting: bool = True,
        self_value: str = "identity",
        memory: bool = True,
    ):
        super().__init__(dictionary)
        check_parameter(segment_length >= 1, "segment_length", f"{{name}} must be >= 1, got {segment_length}")
        self.segment_length = segment_length
        self.eos, self.padding_idx = dictionary.eos(), dictionary.pad()
        self.encoder = SegmentEncoder(cfg, dictionary, encoder_embed_tokens)
        # without memory (the paper's "w/o memory" ablation) nothing is written: every segment's encoder reads the
        # learned initial memory, so no information reaches a token from before the previous segment
        self.writer = SlotAttentionWriter(
            cfg.encoder.embed_dim, write_heads, write_temperature, cfg.attention_dropout, self_value
        ) if memory else None
        self.memory_norm = BiasedMemoryNorm(num_slots, cfg.encoder.embed_dim, memory_norm, forgetting)
        self.segment_decoder = SegmentDecoder(cfg, dictionary, embed_tokens)
        # fairseq's adaptive_loss and get_normalized_probs look for decoder.adaptive_softmax; a plain attribute
        # (not a second registration of the module) so parameters keep one name
        object.__setattr__(self, "adaptive_softmax", self.segment_decoder.adaptive_softmax)

    # -- one recurrence step ---------------------------------------------------------------------------------
    def start_memory(self, state: RecurrentState, batch_size: int) -> Tensor:
        """M [B,K,C]: the carried memory, or the learned initial memory (inside the graph) at a stream start."""
        return self.memory_norm.initial(batch_size) if state.memory is None else state.memory

    def encoder_tokens(self, state: RecurrentState, inputs: Tensor) -> Tensor:
        """E_k [B,S]: the previous segment's inputs shifted by one, then this segment's first input."""
        return torch.cat([state.prev_inputs[:, 1:], inputs[:, :1]], dim=1)

    def _run_on_eos_if_empty(self, tokens: Tensor) -> Tuple[Tensor, Tensor]:
        """(tokens with all-padding rows replaced by eos, empty-row mask [B])"""
        empty = tokens.eq(self.padding_idx).all(dim=1)
        return tokens.masked_fill(empty.unsqueeze(1), self.eos), empty

    def read_and_write(self, enc_tokens: Tensor, memory: Tensor) -> Tuple[Tensor, Optional[Tensor], Tensor]:
        """The critical path. enc_tokens [B,S], memory [B,K,C] -> (hidden [S,B,C], pad [B,S] | None, M' [B,K,C])"""
        enc_tokens, empty = self._run_on_eos_if_empty(enc_tokens)
        hidden, pad_mask = self.encoder(enc_tokens, memory)
        if self.writer is None:
            return hidden, pad_mask, memory
        next_memory = self.memory_norm(self.writer(memory, hidden.transpose(0, 1), pad_mask))
        next_memory = torch.where(empty[:, None, None], memory.to(next_memory.dtype), next_memory)
        return hidden, pad_mask, next_memory

    def decode(self, inputs: Tensor, hidden: Tensor, pad_mask: Optional[Tensor], incremental_state=None,
               features_only: bool = False) -> Tensor:
        """inputs [B,n], hidden [S,B,C] -> logits (or features) [B,n,V]; incremental: the last input only."""
        inputs, _ = self._run_on_eos_if_empty(inputs)
        encoder_out = {"encoder_out": [hidden], "encoder_padding_mask": [] if pad_mask is None else [pad_mask]}
        out, _ = self.segment_decoder(
            inputs, encoder_out=encoder_out, incremental_state=incremental_state, features_only=features_only
        )
        return out

    def step(self, inputs: Tensor, state: RecurrentState, features_only: bool = False):
        """One segment. inputs [B,n] (n <= L) -> (logits [B,n,V], next state)"""
        memory = self.start_memory(state, inputs.size(0))
        hidden, pad_mask, next_memory = self.read_and_write(self.encoder_tokens(state, inputs), memory)
        out = self.decode(inputs, hidden, pad_mask, features_only=features_only)
        return out, RecurrentState(next_memory, inputs)

    def advance(self, inputs: Tensor, state: RecurrentState) -> RecurrentState:
        """The state after segment ``inputs`` without running the decoder (MRBP's forward pass)."""
        memory = self.start_memory(state, inputs.size(0))
        _, _, next_memory = self.read_and_write(self.encoder_tokens(state, inputs), memory)
        return RecurrentState(next_memory, inputs)

    # -- fairseq decoder interface ----------------------------------------------------------------------------
    def forward(
        self,
        prev_output_tokens: Tensor,
        encoder_out=None,
        incremental_state: Optional[Dict[str, Dict[str, Optional[Tensor]]]] = None,
        features_only: bool = False,
        state: Optional[RecurrentState] = None,
        **unused,
    ):
        """prev_output_tokens [B,T] -> (logits [B,T,V], {"state": the state after them, ...}); ``state`` None: a
        fresh stream. See the top of the file for the modes."""
        if incremental_state is not None:
            return self.forward_incremental(prev_output_tokens, incremental_state, features_only)
        if state is None:
            state = RecurrentState.fresh(prev_output_tokens.size(0), prev_output_tokens.device)
        state = state.to(self.memory_norm.bias)
        outputs = []
        for segment in prev_output_tokens.split(self.segment_length, dim=1):
            out, state = self.step(segment, state, features_only)
            outputs.append(out)
        return torch.cat(outputs, dim=1), {"attn": None, "inner_states": None, "state": state}

    def forward_incremental(self, prev_output_tokens: Tensor, incremental_state, features_only: bool = False):
        """Generation: only the newest input prev_output_tokens[:, -1] is read; everything else is state."""
        token = prev_output_tokens[:, -1:]  # [B,1]
        buffer = self.get_incremental_state(incremental_state, "stream")
        if not buffer or buffer["segment"].size(1) == self.segment_length:  # a new segment begins
            if buffer:
                state = RecurrentState(buffer["memory"], buffer["segment"])
            else:
                state = RecurrentState.fresh(token.size(0), token.device)
            memory = self.start_memory(state, token.size(0))
            hidden, pad_mask, next_memory = self.read_and_write(self.encoder_tokens(state, token), memory)
            self._clear_segment_decoder_cache(incremental_state)
            buffer = {"memory": next_memory, "hidden": hidden.transpose(0, 1), "segment": token}  # hidden [B,S,C]
            if pad_mask is not None:
                buffer["hidden_pad"] = pad_mask
        else:
            buffer = dict(buffer, segment=torch.cat([buffer["segment"], token], dim=1))
        self.set_incremental_state(incremental_state, "stream", buffer)
        out = self.decode(buffer["segment"], buffer["hidden"].transpose(0, 1), buffer.get("hidden_pad"),
                          incremental_state, features_only)
        return out, {"attn": None, "inner_states": None}

    def continue_incremental_state(self, incremental_state, state: RecurrentState) -> None:
        """Start generation after a finished segment whose state is ``state`` (e.g. from ``advance`` over a long
        prompt): the next call to forward_incremental begins a new segment from it."""
        self.set_incremental_state(incremental_state, "stream", {"memory": state.memory, "segment": state.prev_inputs})

    def _clear_segment_decoder_cache(self, incremental_state) -> None:
        """Drop the segment decoder's self- and cross-attention caches (they belong to the finished segment)."""
        for module in self.segment_decoder.modules():
            uid = getattr(module, "_incremental_state_id", None)
            if uid is not None:
                for key in [k for k in incremental_state if k.startswith(uid + ".")]:
                    del incremental_state[key]

    def set_beam_size(self, beam_size):
        pass  # no module may share keys across a beam (see memformer_layers.py)

    def reorder_incremental_state(self, incremental_state, new_order: Tensor):
        buffer = self.get_incremental_state(incremental_state, "stream")
        if buffer:
            self.set_incremental_state(incremental_state, "stream", reorder_rows(buffer, new_order))

    def extract_features(self, prev_output_tokens, **kwargs):
        return self.forward(prev_output_tokens, features_only=True, **kwargs)

    def output_layer(self, features):
        return self.segment_decoder.output_layer(features)

    def max_positions(self):
        return sys.maxsize  # a stream has no length limit


"""ABC attention as a fairseq attention module (T x B x C at the boundary; see bounded_attention.py).

Projections follow fairseq's MultiheadAttention (q, k, v, out with biases); the control (``attention/abc.py``)
decides how tokens are written into ``num_slots`` memory slots per head. The math runs in fp32 whatever the
model's dtype, so --fp16 / --bf16 training and decoding keep the normaliser and slot softmax exact.

Memory and state per layer (B = batch x beam):
    cross / encoder memory   k_mem, v_mem [B,H,N,D]
    decoder state (mlp)      k_mem, v_mem [B,H,N,D], log_norm [B,H,N]
    decoder state (linformer) k_mem, v_mem [B,H,N,D], position [B]
    decoder state (window)   k_buf, v_buf [B,H,N,D], position [B]
"""
from typing import Dict, Optional

from fairseq.modules.fairseq_dropout import FairseqDropout
from torch import Tensor

from ..attention.abc import BIDIRECTIONAL_CONTROLS, CONTROL_INIT_GAIN, CONTROLS, build_control, read_slots
from ..attention.ops import at_least_fp32
from ..errors import check_parameter, check_positive_number
from .bounded_attention import BoundedAttention


class AbcAttention(BoundedAttention):
    softmax_parameters = BoundedAttention.PROJECTIONS

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        role: str,
        num_slots: int,
        control: str = "mlp",
        dropout: float = 0.0,
        chunk_size: int = 64,
        max_positions: int = 1024,
        kdim: Optional[int] = None,
        control_init_gain: float = CONTROL_INIT_GAIN,
    ):
        super().__init__(embed_dim, num_heads, role)
        check_parameter(num_slots >= 1, "num_slots", f"{{name}} must be >= 1, got {num_slots}")
        check_parameter(control in CONTROLS, "control", f"{{name}}: unknown control {control!r}; choose from {CONTROLS}")
        check_parameter(role == "decoder" or control in BIDIRECTIONAL_CONTROLS, "control",
                        f"{{name}}={control} is causal only; use one of {BIDIRECTIONAL_CONTROLS} for the {role} role")
        check_parameter(chunk_size >= 1, "chunk_size", f"{{name}} must be >= 1, got {chunk_size}")
        check_parameter(control != "linformer" or max_positions >= 1, "max_positions",
                        f"{{name}} must be >= 1, got {max_positions}")
        check_positive_number(control_init_gain, "control_init_gain")
        self.num_slots, self.chunk_size, self.control_name = num_slots, chunk_size, control
        self.add_projections(kdim)
        # the control reads the tokens being written: the source for cross-attention, x otherwise
        self.control = build_control(control, kdim or embed_dim, num_heads, num_slots, max_positions,
                                     control_init_gain)
        self.dropout_module = FairseqDropout(dropout, module_name=type(self).__name__)
        self.scaling = self.head_dim ** -0.5
        self.reset_parameters()

    def reset_parameters(self):
        self.reset_projections()

    def _queries(self, x: Tensor) -> Tensor:
        return at_least_fp32(self.split_heads(self.q_proj(x))) * self.scaling  # [B,H,T,D]

    def _keys_values(self, source: Tensor):
        return at_least_fp32(self.split_heads(self.k_proj(source))), at_least_fp32(self.split_heads(self.v_proj(source)))

    def compress(self, source: Tensor, pad_mask: Optional[Tensor]) -> Dict[str, Tensor]:
        """source [B,S,C] -> {k_mem, v_mem: [B,H,N,D]}"""
        k, v = self._keys_values(source)
        return self.control.compress(k, v, source, pad_mask)

    def read(self, query: Tensor, memory: Dict[str, Tensor]) -> Tensor:
        """query [B,T,C] -> [B,T,C]"""
        out = read_slots(self._queries(query), memory["k_mem"], memory["v_mem"], dropout=self.dropout_module)
        return self.out_proj(self.merge_heads(out).type_as(query))

    def causal(self, x: Tensor, pad_mask: Optional[Tensor], state: Optional[Dict[str, Tensor]]):
        """x [B,T,C] -> ([B,T,C], state); the state continues the sequence exactly at the next call."""
        q = self._queries(x)
        k, v = self._keys_values(x)
        out, state = self.causal_form(self.control.causal, q, k, v, x, pad_mask, state, self.chunk_size,
                                      self.dropout_module)
        return self.out_proj(self.merge_heads(out).type_as(x)), state

    def extra_repr(self) -> str:
        return f"role={self.role}, control={self.control_name}, slots={self.num_slots}, heads={self.num_heads}"

"""Memformer's external memory: the slot-attention writer and biased memory normalisation (forgetting).

Layout: batch-first throughout. memory M [B,K,C] (K slots of width C), tokens X [B,S,C] (the encoder's final
outputs for one segment), token padding mask [B,S] (True = pad). Heads split C into H x D.

Writer (Wu et al. 2022, memory slot attention). Every slot i attends over [itself; the segment's tokens], never
over other slots, with a temperature tau < 1 sharpening the softmax:

    q_i = m_i W_Q        k_i = m_i W_K        K_x = X W_K        V_x = X W_V       (per head, scaled by 1/sqrt(D))
    a_i = softmax([q_i.k_i ; q_i.K_x] / tau)
    m'_i = a_i . [v_i ; V_x]

Choices where the paper is silent (``self_value``): "identity" (default) takes the slot itself as its own value
(v_i = m_i, the figure's bypass arrow), so a slot that attends only to itself is copied exactly; "projected"
uses v_i = m_i W_V like the tokens. There is no output projection (none appears in the paper's equation).

Forgetting (biased memory normalisation): m_{t+1} = r * normalise(m' + v_bias), with v_bias [K,C] a learned
forgetting vector per slot, and the initial memory m_0 = r * normalise(v_bias). ``norm="l2"`` puts slots on
the unit sphere (r = 1, as in the paper); ``"scaled_l2"`` uses r = sqrt(C), the scale of LayerNorm'd tokens.
``forgetting=False`` (an ablation) drops the bias from updates but keeps it as the initial memory.
The slot softmax and the normalisation run in at least fp32 whatever the model's dtype.
"""
import math
from typing import Optional

import torch
import torch.nn as nn
from fairseq.modules.fairseq_dropout import FairseqDropout
from torch import Tensor

from ..attention.ops import at_least_fp32
from ..errors import check_parameter

MEMORY_NORMS = ("l2", "scaled_l2")
SELF_VALUES = ("identity", "projected")


class BiasedMemoryNorm(nn.Module):
    """Forgetting vectors v_bias [K,C], the initial memory, and the normalisation applied after every write."""

    def __init__(self, num_slots: int, dim: int, norm: str = "l2", forgetting: bool = True):
        super().__init__()
        check_parameter(num_slots >= 1, "num_slots", f"{{name}} must be >= 1, got {num_slots}")
        check_parameter(norm in MEMORY_NORMS, "norm", f"{{name}}: unknown {norm!r}; choose from {', '.join(MEMORY_NORMS)}")
        self.num_slots, self.dim, self.forgetting = num_slots, dim, forgetting
        self.radius = 1.0 if norm == "l2" else math.sqrt(dim)
        # entries ~ N(0, r^2/C), so ||v_bias|| ~ r: the paper's trained biases have norms of about 1 to 3
        self.bias = nn.Parameter(torch.randn(num_slots, dim) * (self.radius / math.sqrt(dim)))

    def normalise(self, x: Tensor) -> Tensor:
        """[..., C] -> same shape, norm r along C (computed in at least fp32, returned in x's dtype)."""
        x32 = at_least_fp32(x)
        return (self.radius * x32 / x32.norm(dim=-1, keepdim=True).clamp_min(1e-6)).to(x.dtype)

    def initial(self, batch_size: int) -> Tensor:
        """m_0 [B,K,C]: the normalised forgetting vectors, the same for every stream."""
        return self.normalise(self.bias).unsqueeze(0).expand(batch_size, -1, -1)

    def forward(self, written: Tensor) -> Tensor:
        """m' [B,K,C] -> m_{t+1} [B,K,C] in the parameters' dtype (fp32 memory under autocast)."""
        written = written.to(self.bias.dtype)
        if self.forgetting:
            written = written + self.bias
        return self.normalise(written)


class SlotAttentionWriter(nn.Module):
    """m' from (memory, tokens): multi-head slot attention over [self; tokens] with temperature (see top)."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        temperature: float = 0.5,
        dropout: float = 0.0,
        self_value: str = "identity",
    ):
        super().__init__()
        check_parameter(num_heads >= 1 and dim % num_heads == 0, "num_heads",
                        f"{{name}}={num_heads} does not divide the encoder dimension {dim}")
        check_parameter(temperature > 0, "temperature", f"{{name}} must be > 0, got {temperature}")
        check_parameter(self_value in SELF_VALUES, "self_value",
                        f"{{name}}: unknown {self_value!r}; choose from {', '.join(SELF_VALUES)}")
        self.dim, self.num_heads, self.head_dim = dim, num_heads, dim // num_heads
        self.temperature, self.self_value = temperature, self_value
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)  # shared by the slot's own key and the tokens' keys
        self.v_proj = nn.Linear(dim, dim)
        self.dropout = FairseqDropout(dropout, module_name=type(self).__name__)
        for proj in (self.q_proj, self.k_proj, self.v_proj):
            nn.init.xavier_uniform_(proj.weight, gain=1 / math.sqrt(2))  # as fairseq's MultiheadAttention
            nn.init.zeros_(proj.bias)

    def split_heads(self, x: Tensor) -> Tensor:
        """[B,N,H*D] -> [B,H,N,D]"""
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, memory: Tensor, tokens: Tensor, pad_mask: Optional[Tensor] = None) -> Tensor:
        """memory [B,K,C], tokens [B,S,C], pad_mask [B,S] (True = pad) -> m' [B,K,C]."""
        batch, slots, _ = memory.shape
        scale = self.head_dim ** -0.5
        q = self.split_heads(self.q_proj(memory)) * scale  # [B,H,K,D]
        k_self = self.split_heads(self.k_proj(memory))  # [B,H,K,D]
        k_tok = self.split_heads(self.k_proj(tokens))  # [B,H,S,D]
        v_tok = self.split_heads(self.v_proj(tokens))  # [B,H,S,D]
        v_self = self.split_heads(memory if self.self_value == "identity" else self.v_proj(memory))  # [B,H,K,D]

        score_self = (q * k_self).sum(-1, keepdim=True)  # [B,H,K,1]
        score_tok = q @ k_tok.transpose(-1, -2)  # [B,H,K,S]
        if pad_mask is not None:
            score_tok = score_tok.masked_fill(pad_mask[:, None, None, :], float("-inf"))
        # the self entry is never masked, so every row has a finite maximum
        weights = torch.softmax(at_least_fp32(torch.cat([score_self, score_tok], dim=-1)) / self.temperature, dim=-1)
        weights = self.dropout(weights.to(q.dtype))  # [B,H,K,1+S]
        written = weights[..., :1] * v_self + weights[..., 1:] @ v_tok  # [B,H,K,D]
        return written.transpose(1, 2).reshape(batch, slots, self.dim)  # [B,K,C]

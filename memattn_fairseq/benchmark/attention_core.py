"""The benchmark's ``attention`` section: the attention cores alone (one forward + backward of B=1 sequence), the
plugin's causal training forms beside the forms others use for the same math, and each one's achieved GFLOP/s
against this machine's large-matmul rate.

Forms (layout of every tensor here: [B,H,T,D], heads second; N slots):
    abc_mlp            the plugin's ABC_MLP causal form (attention/abc.py: chunked, per-chunk normalisers)
    abc_mlp_two_pass   the same math as two passes of a plain chunked linear attention, the form of
                       flash-linear-attention's pure-PyTorch ``naive_chunk_linear_attn``:
                           pass 1  logits_t = sum_{i<=t} (q_t . k_i) w_i / Z_t,   w_i = exp(l_i - max l), Z = cumsum w
                           pass 2  o_t = sum_{i<=t} (softmax(logits_t) / Z_t . w_i) v_i
                       (one shift per sequence: fast, but not overflow-safe for saturated logits; a speed peer)
    memsizer           the plugin's MemSizer causal form (attention/memsizer.py)
    sdpa               torch's scaled_dot_product_attention, causal (softmax attention: the transformer's core)

FLOPs: the matmuls each form runs, counted by torch's FlopCounterMode; SDPA's, which it does not count on the CPU,
are the usual causal count (forward 2 B H T^2 D, backward 2.5 times that).
"""
from typing import Callable, Dict, List

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from ..attention import memsizer
from ..attention.abc import MlpControl
from ..attention.ops import chunks, exclusive_cumsum, unchunk
from .measure import peak_bytes, seconds_per_call

CHUNK = 64
FORMS = ("abc_mlp", "abc_mlp_two_pass", "memsizer", "sdpa")


def chunk_linear_attention(q, k, v, size: int = CHUNK):
    """Causal, unnormalised linear attention sum_{i<=t} (q_t . k_i) v_i: q, k [B,H,T,Dk], v [B,H,T,Dv] -> [B,H,T,Dv]."""
    qc, kc, vc = chunks(q, size), chunks(k, size), chunks(v, size)  # [B,H,K,C,*]
    intra = torch.tril(qc @ kc.transpose(-1, -2)) @ vc  # within each chunk
    state = exclusive_cumsum(kc.transpose(-1, -2) @ vc, dim=2)  # [B,H,K,Dk,Dv], the chunks before
    return unchunk(intra + qc @ state, q.shape[-2])


def abc_two_pass(q, k, v, logits):
    """ABC_MLP causal attention as two linear-attention passes. q, k, v [B,H,T,D]; logits [B,H,T,N] -> [B,H,T,D]."""
    weights = torch.exp(logits - logits.amax(dim=-2, keepdim=True))  # [B,H,T,N]
    norm = weights.cumsum(dim=-2)  # Z_t [B,H,T,N]
    probs = torch.softmax(chunk_linear_attention(q, k, weights) / norm, dim=-1)  # [B,H,T,N]
    return chunk_linear_attention(probs / norm, weights, v)


def _inputs(batch: int, heads: int, length: int, dim: int, device) -> List[torch.Tensor]:
    return [torch.randn(batch, heads, length, dim, device=device, requires_grad=True) for _ in range(3)]


def forms(heads: int, head_dim: int, slots: int, length: int, device) -> Dict[str, Callable[[], torch.Tensor]]:
    """Each form as a call returning its output (forward only), on fresh inputs that take gradients."""
    q, k, v = _inputs(1, heads, length, head_dim, device)
    x = torch.randn(1, length, heads * head_dim, device=device, requires_grad=True)  # [B,T,C], the control's input
    control = MlpControl(heads * head_dim, heads, slots).to(device)
    slot_logits = torch.randn(1, length, heads * slots, device=device, requires_grad=True)  # MemSizer: [B,T,H*k]
    keys = torch.randn(1, length, slots, device=device, requires_grad=True)  # [B,T,k]
    values = torch.randn(1, length, heads * head_dim, device=device, requires_grad=True)  # [B,T,C]
    return {
        "abc_mlp": lambda: control.causal(q, k, v, x, None, None, CHUNK)[0],
        "abc_mlp_two_pass": lambda: abc_two_pass(q, k, v, control.logits(x, None)),
        "memsizer": lambda: memsizer.causal(memsizer.slot_distribution(slot_logits, heads), keys, values, None,
                                            None, CHUNK)[0],
        "sdpa": lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True),
    }


def training_call(forward: Callable[[], torch.Tensor]) -> Callable[[], None]:
    return lambda: forward().sum().backward()


def flops(name: str, call: Callable[[], None], heads: int, head_dim: int, length: int) -> float:
    if name == "sdpa":
        return 2.0 * heads * length * length * head_dim * 3.5
    with FlopCounterMode(display=False) as counter:
        call()
    return float(counter.get_total_flops())


def matmul_rate(device, size: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of a large fp32 matmul on this device and thread count: the machine's practical limit."""
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    seconds = seconds_per_call(lambda: a @ b, device, 2, repeats)
    return 2.0 * size ** 3 / seconds.median


def rows(args, device, contexts: List[int], progress) -> List[dict]:
    heads, head_dim = args.heads, args.dim // args.heads
    limit = matmul_rate(device)
    out = []
    for length in contexts:
        for name, forward in forms(heads, head_dim, args.slots, length, device).items():
            progress(f"attention {name} context {length}")
            call = training_call(forward)
            seconds = seconds_per_call(call, device, args.warmup, args.repeats)
            work = flops(name, call, heads, head_dim, length)
            rate = seconds.inverse(work / 1e9)  # GFLOP/s, quartiles swapped
            out.append(dict(section="attention", model=name, batch=1, length=length,
                            **seconds.scaled(1e3).columns("ms_per_call"), **rate.columns("gflops"),
                            matmul_share=rate.median * 1e9 / limit, peak_bytes=peak_bytes(call, device)))
    return out

"""The benchmark's ``step`` section: one decoding step of each attention core (no autograd), beside a minimal
in-place step of the same math written here with nothing but the operations it needs.

Layout: ABC [B,H,1,D] for q, k, v and [B,H,N,D] for its memory; MemSizer [B,1,k] slot distribution and keys,
[B,1,C] values, [B,k,C] sum. Each call advances a state that already holds ``PREFIX`` tokens (the state's size does
not depend on the prefix). The metric ``us_per_step`` is the plugin's step; ``minimal_us_per_step`` the minimal
step measured in the same loop; ``step_over_minimal`` their ratio.
"""
from typing import Callable, List, Tuple

import torch

from ..attention import memsizer
from ..attention.abc import LOGIT_CLAMP, MlpControl
from .measure import Spread, seconds_of_call

PREFIX = 64
CHUNK = 64
Steps = Tuple[Callable[[], torch.Tensor], Callable[[], torch.Tensor]]  # (the plugin's step, the minimal step)
STEPS_PER_REPEAT = 20  # a step takes microseconds: many more timed steps than the other sections' calls


def abc_mlp(batch: int, heads: int, head_dim: int, slots: int, device) -> Steps:
    """ABC_MLP's step (the control's causal form at T = 1) and the minimal step, each from its own copy of one state."""
    control = MlpControl(heads * head_dim, heads, slots).to(device)
    q, k, v = (torch.randn(batch, heads, PREFIX + 1, head_dim, device=device) for _ in range(3))
    x = torch.randn(batch, PREFIX + 1, heads * head_dim, device=device)
    _, state = control.causal(q[:, :, :PREFIX], k[:, :, :PREFIX], v[:, :, :PREFIX], x[:, :PREFIX], None, None, CHUNK)
    q, k, v, x = q[:, :, PREFIX:], k[:, :, PREFIX:], v[:, :, PREFIX:], x[:, PREFIX:]  # the new token
    minimal = {name: t.clone() for name, t in state.items()}
    weight = control.proj.weight

    def plugin():
        nonlocal state
        out, state = control.causal(q, k, v, x, None, state, CHUNK)
        return out

    def minimal_step():
        logits = (x[:, 0] @ weight.t()).view(batch, heads, slots).clamp_(-LOGIT_CLAMP, LOGIT_CLAMP)  # [B,H,N]
        new_norm = torch.logaddexp(minimal["log_norm"], logits)
        decay = (minimal["log_norm"] - new_norm).exp_().unsqueeze(-1)  # [B,H,N,1]
        write = (logits - new_norm).exp_().unsqueeze(-1)
        minimal["k_mem"].mul_(decay).addcmul_(write, k)
        minimal["v_mem"].mul_(decay).addcmul_(write, v)
        minimal["log_norm"] = new_norm
        return torch.softmax(q @ minimal["k_mem"].transpose(-1, -2), dim=-1) @ minimal["v_mem"]  # [B,H,1,D]

    return plugin, minimal_step


def memsizer_step(batch: int, heads: int, head_dim: int, slots: int, device) -> Steps:
    """MemSizer's step (``memsizer.causal`` at T = 1) and the minimal step, each from its own copy of one state."""
    width = heads * head_dim
    logits = torch.randn(batch, PREFIX + 1, heads * slots, device=device)  # [B,T,H*k]
    keys = torch.randn(batch, PREFIX + 1, slots, device=device)
    values = torch.randn(batch, PREFIX + 1, width, device=device)
    probs = memsizer.slot_distribution(logits[:, :PREFIX], heads)
    _, state = memsizer.causal(probs, keys[:, :PREFIX], values[:, :PREFIX], None, None, CHUNK)
    logits, keys, values = logits[:, PREFIX:], keys[:, PREFIX:], values[:, PREFIX:]  # the new token
    total, count = state["sum"].clone(), state["count"].clone()

    def plugin():
        nonlocal state
        out, state = memsizer.causal(memsizer.slot_distribution(logits, heads), keys, values, None, state, CHUNK)
        return out

    def minimal_step():
        probs = torch.softmax(logits.view(batch, 1, heads, slots), dim=-1).mean(dim=2)  # [B,1,k]
        total.baddbmm_(keys.transpose(1, 2), values)
        count.add_(1)
        return (probs @ total) * count.rsqrt()[:, None, None]  # [B,1,C]

    return plugin, minimal_step


FAMILIES = {"abc_mlp": abc_mlp, "memsizer": memsizer_step}


def interleaved(first: Callable, second: Callable, device, warmup: int, repeats: int):
    """Spreads of two calls timed alternately (first, second, first, ...), so a change of the machine's speed
    during the run falls on both."""
    for _ in range(warmup):
        first(), second()
    pairs = [(seconds_of_call(first, device), seconds_of_call(second, device)) for _ in range(repeats)]
    return Spread.of([a for a, _ in pairs]), Spread.of([b for _, b in pairs])


@torch.no_grad()
def rows(args, device, batches: List[int], progress) -> List[dict]:
    heads, head_dim = args.heads, args.dim // args.heads
    out = []
    for batch in batches:
        for name, steps in FAMILIES.items():
            progress(f"step {name} batch {batch}")
            plugin, minimal_step = steps(batch, heads, head_dim, args.slots, device)
            plugin_time, minimal_time = interleaved(plugin, minimal_step, device, args.warmup * 10,
                                                    args.repeats * STEPS_PER_REPEAT)
            plugin_time, minimal_time = plugin_time.scaled(1e6), minimal_time.scaled(1e6)
            out.append(dict(section="step", model=name, batch=batch, length=PREFIX,
                            **plugin_time.columns("us_per_step"), **minimal_time.columns("minimal_us_per_step"),
                            step_over_minimal=plugin_time.median / minimal_time.median))
    return out

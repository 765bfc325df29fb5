"""Memformer's train step over one block of H segments: MRBP (memory replay back-propagation) or full BPTT.

Both compute the gradient of the block's summed loss through all H segments (the memory entering the block is a
constant: the gradient horizon is one block). They differ in what they keep:

    full BPTT   one forward through the H segments keeping every graph, one backward: memory grows with H
    MRBP        forward through the critical path (encoder + writer) without graphs, storing only the H memories
                M_0..M_{H-1}; then for k = H..1 recompute segment k from M_{k-1} and back-propagate
                    loss_k + <M_k, g_k>          (g_k = dLoss/dM_k carried back from segment k+1)
                so that M_{k-1}.grad = g_{k-1}: one segment's graph at a time, flat in H

Dropout: every segment runs under its own seed drawn once per step, so the replay sees the masks of the forward
and MRBP equals full BPTT also with dropout on. Loss scaling: the replay's backward goes through
``optimizer.backward`` (fp16 / bf16 / AMP scaling, FP16Optimizer's sync flag), and the carried g is unscaled
before the next replay. Data parallel: every replay but the last (forward and backward) runs under
``model.no_sync()``, so c10d DDP all-reduces once per update (legacy_ddp all-reduces after the step anyway), and
a zero-weighted use of the last memory keeps every parameter in each backward, as DDP requires, even where the
horizon gives it no gradient (the block's last write).

API (also for benchmarks; ``model`` may be DDP-wrapped, ``sample`` is a memformer_lm batch or ``block_sample``):

    recurrent_train_step(model, criterion, sample, optimizer=None, mode="mrbp" | "full", ignore_grad=False,
                         state=None) -> (loss, sample_size, logging_output, final_state)
        ``state``: the state the block continues (None: fresh streams); the task picks it (memformer_streams.py)
    block_sample(targets [B,T], dictionary) -> a batch of fresh streams (tasks/memformer_stream_data.py)

e.g. peak memory against H: ``block_sample(torch.randint(4, V, (B, H * L)), d)``, then
``torch.cuda.reset_peak_memory_stats(); recurrent_train_step(model, criterion, sample, mode=m)``.
Without ``optimizer`` gradients go straight to ``.grad`` (no scaling).

The criterion runs the model on each segment with ``net_input["state"]``; it keeps the model's output to itself,
so the state the decoder returns is read by a forward hook (``returned_state``).
"""
from contextlib import contextmanager, nullcontext
from typing import List, Optional

import torch
from fairseq.optim.amp_optimizer import AMPOptimizer

from ..errors import check
from ..modules.memformer_decoder import MemformerDecoder
from ..modules.memformer_state import RecurrentState

MODES = ("mrbp", "full")


def find_memformer(model) -> MemformerDecoder:
    """The MemformerDecoder inside ``model`` (plain, c10d DDP or legacy DDP wrapped)."""
    module = model
    while True:
        decoder = getattr(module, "decoder", None)
        if isinstance(decoder, MemformerDecoder):
            return decoder
        check(hasattr(module, "module"),
              f"--task memformer_lm trains memformer_lm models only; got {type(model).__name__}")
        module = module.module


def split_segments(sample: dict, segment_length: int, pad: int) -> List[dict]:
    """The block's H segments as fairseq samples (inputs/targets [B,<=L]); ``net_input["state"]`` is set later."""
    inputs, targets = sample["net_input"]["src_tokens"], sample["target"]
    return [
        {"id": sample["id"], "nsentences": inputs.size(0), "ntokens": int(tgt.ne(pad).sum()),
         "net_input": {"src_tokens": inp.contiguous()}, "target": tgt.contiguous()}
        for inp, tgt in zip(inputs.split(segment_length, dim=1), targets.split(segment_length, dim=1))
    ]


def _with_state(segment: dict, state: RecurrentState) -> dict:
    return dict(segment, net_input=dict(segment["net_input"], state=state))


class returned_state:
    """``with returned_state(decoder) as returned:`` ... ``returned.state``: the state the decoder's last forward
    returned (the criterion does not hand the model's output back)."""

    def __init__(self, decoder: MemformerDecoder):
        self.decoder, self.state = decoder, None

    def __enter__(self):
        self.handle = self.decoder.register_forward_hook(self._record)
        return self

    def __exit__(self, *exc):
        self.handle.remove()

    def _record(self, decoder, args, output):
        self.state = output[1]["state"]


@contextmanager
def segment_rng(seed: int, device: torch.device):
    """Run with the RNG seeded by ``seed`` (CPU and this CUDA device), restoring the outer RNG afterwards."""
    devices = []
    if device.type == "cuda":
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def loss_scale(optimizer) -> float:
    """The factor ``optimizer.backward`` multiplies the loss by (1 without an fp16/AMP scaler)."""
    if optimizer is None:
        return 1.0
    if isinstance(optimizer, AMPOptimizer):
        return float(optimizer.scaler.get_scale())
    scaler = getattr(optimizer, "scaler", None)
    return float(scaler.loss_scale) if scaler is not None else 1.0


def _autocast(optimizer):
    return torch.autocast("cuda") if isinstance(optimizer, AMPOptimizer) else nullcontext()


def _backward(optimizer, objective):
    if optimizer is None:
        objective.backward()
    else:
        optimizer.backward(objective)


def _no_sync(model):
    no_sync = getattr(model, "no_sync", None)
    return no_sync() if callable(no_sync) else nullcontext()


def _zero_use(decoder: MemformerDecoder, state: RecurrentState):
    """0, computed from the block's last memory and the forgetting bias: every parameter then takes part in the
    backward (with zero gradient where the horizon gives it none, e.g. the last write), as DDP expects."""
    return (state.memory.float().sum() + decoder.memory_norm.bias.float().sum()) * 0


def merge_logging_outputs(outputs: List[dict], nsentences: int) -> dict:
    merged = {}
    for out in outputs:
        for key, value in out.items():
            merged[key] = merged.get(key, 0) + value
    merged["nsentences"] = nsentences
    return merged


def recurrent_train_step(model, criterion, sample, optimizer=None, mode: str = "mrbp", ignore_grad: bool = False,
                         state: Optional[RecurrentState] = None):
    check(mode in MODES, f"--memformer-backprop: unknown {mode!r}; choose from {', '.join(MODES)}")
    decoder = find_memformer(model)
    inputs = sample["net_input"]["src_tokens"]
    start = RecurrentState.fresh(inputs.size(0), inputs.device) if state is None else state
    start = start.to(decoder.memory_norm.bias)
    segments = split_segments(sample, decoder.segment_length, decoder.padding_idx)
    seeds = torch.randint(0, 2**31 - 1, (len(segments),)).tolist()
    run = _mrbp if mode == "mrbp" else _full_bptt
    with returned_state(decoder) as returned:
        loss, sample_size, logs, final = run(model, decoder, criterion, segments, start, seeds, optimizer,
                                             ignore_grad, returned)
    return loss, sample_size, merge_logging_outputs(logs, inputs.size(0)), final


def _mrbp(model, decoder, criterion, segments, start, seeds, optimizer, ignore_grad, returned):
    device = segments[0]["net_input"]["src_tokens"].device
    horizon = len(segments)
    states = [start]  # states[k]: the state entering segment k
    with torch.no_grad():
        for k in range(horizon - 1):
            with segment_rng(seeds[k], device), _autocast(optimizer):
                states.append(decoder.advance(segments[k]["net_input"]["src_tokens"], states[-1]))
    scale = loss_scale(optimizer)
    carried_grad = None  # [B,K,C] fp32, unscaled: dLoss(later segments)/dM_k
    total, sample_size, logs, final = 0.0, 0, [], None
    for k in reversed(range(horizon)):
        state_in, leaf = states[k], None
        if k > 0:
            leaf = state_in.memory.detach().requires_grad_()
            state_in = RecurrentState(leaf, state_in.prev_inputs)
        with _no_sync(model) if k > 0 else nullcontext():  # DDP: the forward decides whether backward syncs
            with segment_rng(seeds[k], device), _autocast(optimizer):
                loss, size, log = criterion(model, _with_state(segments[k], state_in))
            state_out = returned.state
            if carried_grad is not None:
                objective = loss + (state_out.memory.float() * carried_grad).sum()
            else:
                objective = loss + _zero_use(decoder, state_out)
            _backward(optimizer, objective * 0 if ignore_grad else objective)
        if k == horizon - 1:
            final = state_out.detach()
        if leaf is not None:
            carried_grad = None if leaf.grad is None else leaf.grad.float() / scale
        total, sample_size = total + loss.detach(), sample_size + size
        logs.append(log)
    return total, sample_size, logs, final


def _full_bptt(model, decoder, criterion, segments, start, seeds, optimizer, ignore_grad, returned):
    device = segments[0]["net_input"]["src_tokens"].device
    state, total, sample_size, logs = start, None, 0, []
    for k, segment in enumerate(segments):
        with segment_rng(seeds[k], device), _autocast(optimizer):
            loss, size, log = criterion(model, _with_state(segment, state))
        total = loss if total is None else total + loss
        state, sample_size = returned.state, sample_size + size
        logs.append(log)
    objective = total + _zero_use(decoder, state)
    _backward(optimizer, objective * 0 if ignore_grad else objective)
    return total.detach(), sample_size, logs, state.detach()

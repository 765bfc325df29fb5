"""Attention transfer: train each converted attention module to give the outputs of the softmax attention it
replaces, before finetuning the whole model.

The source (teacher) model runs on training text; every softmax attention of a converted role records its inputs
and its output [T,B,C]. The converted module runs on the same inputs, and the loss is its squared error relative to
the teacher output's mean square (padding excluded), averaged over the modules, so every layer counts alike. Only
the parameters of the converted attention modules train; both models run without dropout.

Resumable: every ``save_interval`` updates, the trained parameters, the optimiser and the data position go to
``state_path`` (atomically); started again with the same ``state_path``, the transfer continues from there.
"""
import itertools
import os
from dataclasses import dataclass
from typing import Dict, Optional

import torch
import torch.nn as nn
from fairseq import utils
from torch import Tensor
from tqdm import tqdm

from ..checkpointing.atomic_write import write_atomically
from .weights import bounded_attention


@dataclass(frozen=True)
class TransferSettings:
    updates: int
    lr: float = 1e-3
    max_tokens: int = 4096
    seed: int = 1
    save_interval: int = 50


class Recorder:
    """Forward hooks on the teacher's attention modules that keep each call's inputs and output."""

    def __init__(self, teacher: nn.Module, names):
        modules = dict(teacher.named_modules())
        self.calls: Dict[str, tuple] = {}
        self.handles = [modules[name].register_forward_hook(self._hook(name), with_kwargs=True) for name in names]

    def _hook(self, name):
        def record(module, args, kwargs, output):
            self.calls[name] = (args, kwargs, output[0])
        return record

    def close(self):
        for handle in self.handles:
            handle.remove()


def relative_error(output: Tensor, target: Tensor, pad_mask: Optional[Tensor]) -> Tensor:
    """Squared error of ``output`` against ``target`` (both [T,B,C]) over the target's mean square; rows where
    ``pad_mask`` [B,T] is True are left out."""
    keep = torch.ones_like(target[..., :1]) if pad_mask is None else (~pad_mask).t().unsqueeze(-1).to(target)
    return ((output - target).pow(2) * keep).sum() / (target.pow(2) * keep).sum().clamp_min(1e-12)


def imitation_loss(attention: Dict[str, nn.Module], calls: Dict[str, tuple]) -> Tensor:
    losses = []
    for name, module in attention.items():
        args, kwargs, target = calls[name]
        output = module(*args, **kwargs)[0]
        # the query's padding: a self-attention's key padding is its query's; cross-attention keys are the source
        pad_mask = kwargs.get("key_padding_mask") if module.self_attention else None
        losses.append(relative_error(output.float(), target.float(), pad_mask))
    return torch.stack(losses).mean()


def _epoch_iterator(task, teacher: nn.Module, settings: TransferSettings, position: Optional[dict]):
    """fairseq's iterator over the training batches, at ``position`` (its saved state) if given."""
    task.load_dataset("train")
    epoch_itr = task.get_batch_iterator(
        dataset=task.dataset("train"), max_tokens=settings.max_tokens,
        max_positions=utils.resolve_max_positions(task.max_positions(), teacher.max_positions()),
        ignore_invalid_inputs=True, required_batch_size_multiple=1, seed=settings.seed, num_workers=0, epoch=1)
    if position:
        epoch_itr.load_state_dict(position)
    return epoch_itr


def transfer(task, teacher: nn.Module, student: nn.Module, settings: TransferSettings, state_path: str,
             device: str = "cpu") -> dict:
    """Train ``student``'s bounded attention modules to imitate ``teacher``'s; returns a record of the losses."""
    attention = bounded_attention(student)
    parameters = [p for module in attention.values() for p in module.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=settings.lr)
    done, position, first_loss, last_loss = 0, None, None, None
    if os.path.exists(state_path):
        saved = torch.load(state_path, map_location="cpu", weights_only=True)
        for name, module in attention.items():
            module.load_state_dict(saved["attention"][name])
        optimizer.load_state_dict(saved["optimizer"])
        done, position, first_loss, last_loss = (saved[key] for key in ("updates", "iterator", "first_loss",
                                                                         "last_loss"))
    teacher.to(device).eval()
    student.to(device).eval()
    recorder = Recorder(teacher, attention)
    progress = tqdm(total=settings.updates, initial=done, desc="attention transfer", unit="update")
    try:
        epoch_itr = _epoch_iterator(task, teacher, settings, position)
        batches = (sample for _ in itertools.count() for sample in epoch_itr.next_epoch_itr(shuffle=True))
        while done < settings.updates:
            sample = next(batches)
            sample = utils.move_to_cuda(sample) if device != "cpu" else sample
            with torch.no_grad():
                teacher(**sample["net_input"])
            loss = imitation_loss(attention, recorder.calls)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, 1.0)
            optimizer.step()
            done, last_loss = done + 1, loss.item()
            first_loss = last_loss if first_loss is None else first_loss
            progress.update(1)
            progress.set_postfix(imitation_loss=f"{last_loss:.4f}")
            if done % settings.save_interval == 0 or done == settings.updates:
                _save(state_path, attention, optimizer, epoch_itr.state_dict(),
                      dict(updates=done, first_loss=first_loss, last_loss=last_loss))
    finally:
        recorder.close()
        progress.close()
    student.cpu()
    return {"transfer_updates": done, "imitation_loss_first": first_loss, "imitation_loss_last": last_loss}


def _save(path: str, attention: Dict[str, nn.Module], optimizer, iterator: dict, progress: dict) -> None:
    state = {"attention": {name: module.state_dict() for name, module in attention.items()},
             "optimizer": optimizer.state_dict(), "iterator": iterator, **progress}
    write_atomically(path, lambda f: torch.save(state, f))

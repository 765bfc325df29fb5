"""Training cost: tokens/s and peak memory of one forward+backward of a single sequence of a given context length."""
from types import SimpleNamespace
from typing import Dict

import torch
import torch.nn.functional as F
from fairseq.criterions.cross_entropy import CrossEntropyCriterion

from ..tasks.memformer_stream_data import block_sample
from ..training.memformer_mrbp import recurrent_train_step
from .measure import peak_bytes, seconds_per_call


def lm_training(model, context: int, device, warmup: int, repeats: int, vocab: int) -> Dict[str, float]:
    model.train()
    tokens = torch.randint(4, vocab, (1, context + 1), device=device)

    def step():
        logits = model(tokens[:, :-1])[0]  # [1,T,V]
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)).float(), tokens[:, 1:].reshape(-1))
        loss.backward()
        model.zero_grad(set_to_none=True)

    seconds = seconds_per_call(step, device, warmup, repeats)
    peak = peak_bytes(step, device)
    model.eval()
    return {**seconds.inverse(context).columns("tokens_per_s"), "peak_bytes": peak}


def cross_entropy(dictionary) -> CrossEntropyCriterion:
    """fairseq's LM criterion without a task (token-averaged)."""
    return CrossEntropyCriterion(SimpleNamespace(target_dictionary=dictionary), sentence_avg=False)


def memformer_training(model, context: int, device, warmup: int, repeats: int, vocab: int) -> Dict[str, float]:
    """Memformer: one stream of ``context`` tokens as one MRBP step over its context / L segments."""
    model.train()
    dictionary = model.decoder.dictionary
    criterion = cross_entropy(dictionary)
    sample = block_sample(torch.randint(4, vocab, (1, context), device=device), dictionary)

    def step():
        recurrent_train_step(model, criterion, sample, mode="mrbp")
        model.zero_grad(set_to_none=True)

    seconds = seconds_per_call(step, device, warmup, repeats)
    peak = peak_bytes(step, device)
    model.eval()
    return {**seconds.inverse(context).columns("tokens_per_s"), "peak_bytes": peak}

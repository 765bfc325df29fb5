"""--fp16 and --bf16 through fairseq-train for every model (on the CPU here): the model really runs in half
precision (every saved weight is exact in the half format), and the training and validation losses stay finite."""
import math
import os
import re

import pytest
import torch
from cli_runner import TINY_LM, TINY_MT, TRAIN_COMMON, USER_DIR, lm_data, mt_data, run

from memattn_fairseq import model_list

LM = [*TINY_LM, "--tokens-per-sample", "64", "--max-tokens", "512"]
STREAMS = ["--decoder-embed-dim", "32", "--decoder-ffn-embed-dim", "64", "--decoder-layers", "2",
           "--decoder-attention-heads", "4", "--memformer-segment-length", "8", "--tokens-per-sample", "32",
           "--batch-size", "4"]
MT = [*TINY_MT, "--max-tokens", "1000", "--criterion", "label_smoothed_cross_entropy", "--label-smoothing", "0.1"]
MODELS = {  # every plugin model of the model list, at 8 slots
    f"{m.kind}_{m.name}": (m.kind, [*m.with_slots(8).flags(), *(MT if m.kind == "mt" else STREAMS if m.stream else LM)])
    for m in model_list.MODELS if not m.baseline
}
PRECISIONS = {"fp16": torch.float16, "bf16": torch.bfloat16}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return {"lm": lm_data(str(tmp_path_factory.mktemp("lm")), train_lines=150),
            "mt": mt_data(str(tmp_path_factory.mktemp("mt")), train_pairs=200)}


def losses(log: str, split: str):
    return [float(x) for x in re.findall(rf"\| {split} \|.*?\| loss ([-\w.]+) \|", log)]


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("model", MODELS)
def test_half_precision_training_stays_finite(data, tmp_path, model, precision):
    kind, flags = MODELS[model]
    log = run("train", data[kind], "--user-dir", USER_DIR, *flags, f"--{precision}", "--max-update", "4",
              "--save-dir", tmp_path, *TRAIN_COMMON)
    train, valid = losses(log, "train"), losses(log, "valid")
    assert train and valid, log[-2000:]
    assert all(math.isfinite(x) for x in train + valid), (train, valid)
    state = torch.load(os.path.join(tmp_path, "checkpoint_last.pt"), map_location="cpu")
    weights = [t for t in state["model"].values() if torch.is_tensor(t) and t.is_floating_point()]
    assert all(torch.isfinite(t).all() for t in weights)
    # fairseq saves fp32 copies; the model's own weights were half, so each value is exact in that format
    assert all(torch.equal(t.to(PRECISIONS[precision]).float(), t.float()) for t in weights)

"""Decoding-state size of a checkpoint's model: the bytes a decoder keeps between steps for one sequence.

The model is loaded as fairseq-generate loads it and decodes ``--steps`` tokens one at a time through fairseq's
incremental-decoding interface (for translation after encoding a ``--source-length``-token source); the result is
the bytes of every tensor in the incremental state then (KV caches, compressed memories, normalisers, counters,
Memformer's memory and segment states), per sequence, in the model's dtype. A softmax transformer's state grows with
both lengths; ABC's and MemSizer's stay fixed, Memformer's is fixed per segment phase.

    python -m memattn_fairseq.recipes.state_size --data DATA --checkpoint CKPT --steps 512 [--source-length 64] [--cpu]
"""
import argparse
import json
from typing import Dict, Optional, Tuple

import torch

from ..modules.incremental_state import state_bytes
from ..errors import ConfigError, check


def load_model(checkpoint: str, data: str, cpu: bool = False) -> Tuple[torch.nn.Module, object]:
    """(model in eval mode on the chosen device, task), through fairseq's own checkpoint loading."""
    from fairseq import checkpoint_utils

    try:
        models, _, task = checkpoint_utils.load_model_ensemble_and_task([checkpoint], arg_overrides={"data": data})
    except (FileNotFoundError, OSError) as exc:
        raise ConfigError(f"cannot load {checkpoint} with data {data}: {exc}") from None
    device = torch.device("cuda" if torch.cuda.is_available() and not cpu else "cpu")
    return models[0].eval().to(device), task


def device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _random_tokens(dictionary, length: int, device) -> torch.Tensor:
    """[1, length] ordinary symbols (no specials): the state's size does not depend on which tokens they are."""
    low = dictionary.nspecial
    check(len(dictionary) > low, "the dictionary has no ordinary symbols")
    generator = torch.Generator().manual_seed(0)
    return torch.randint(low, len(dictionary), (1, length), generator=generator).to(device)


@torch.no_grad()
def decoding_state_bytes(model, task, steps: int, source_length: Optional[int] = None) -> int:
    """Bytes of the incremental state after ``steps`` decoding steps of one sequence."""
    check(steps >= 1, f"--steps must be >= 1, got {steps}")
    device = device_of(model)
    target = _random_tokens(task.target_dictionary, steps, device)
    target[0, 0] = task.target_dictionary.eos()  # decoding starts from eos, as fairseq's generator does
    encoder_out = None
    if getattr(model, "encoder", None) is not None and source_length is not None:
        check(source_length >= 1, f"--source-length must be >= 1, got {source_length}")
        source = _random_tokens(task.source_dictionary, source_length, device)
        source[0, -1] = task.source_dictionary.eos()
        encoder_out = model.encoder(source, src_lengths=torch.tensor([source_length], device=device))
    state: Dict = {}
    for step in range(1, steps + 1):
        if encoder_out is None:
            model.decoder(target[:, :step], incremental_state=state)
        else:
            model.decoder(target[:, :step], encoder_out=encoder_out, incremental_state=state)
    return state_bytes(state)


def measure(checkpoint: str, data: str, steps: int, source_length: Optional[int] = None, cpu: bool = False) -> Dict:
    model, task = load_model(checkpoint, data, cpu)
    translation = getattr(model, "encoder", None) is not None
    check(not translation or source_length is not None, "a translation model needs --source-length")
    return {
        "bytes": decoding_state_bytes(model, task, steps, source_length if translation else None),
        "steps": steps,
        "source_length": source_length if translation else None,
        "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="binarised data directory (its dictionaries)")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--steps", type=int, default=512, help="decoding steps (target tokens) before measuring")
    parser.add_argument("--source-length", type=int, default=64, help="source tokens (translation models)")
    parser.add_argument("--cpu", action="store_true", help="stay on the CPU when a GPU is present")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.checkpoint, args.data, args.steps, args.source_length, args.cpu)))


if __name__ == "__main__":
    main()

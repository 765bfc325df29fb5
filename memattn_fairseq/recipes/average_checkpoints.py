"""Average the parameters of several fairseq checkpoints into one checkpoint that fairseq-generate loads.

Same command line as fairseq's ``scripts/average_checkpoints.py`` (which the fairseq wheel does not ship):

    python -m memattn_fairseq.recipes.average_checkpoints --inputs CKPT_DIR --num-update-checkpoints 5 --output avg.pt
    python -m memattn_fairseq.recipes.average_checkpoints --inputs a.pt b.pt c.pt --output avg.pt

``--num-epoch-checkpoints N`` takes the last N ``checkpoint<epoch>.pt`` of the directory, ``--num-update-checkpoints N``
the last N ``checkpoint_<epoch>_<update>.pt``; ``--checkpoint-upper-bound`` ignores those past that epoch / update.
Floating-point tensors are summed in float64 and cast back to their own dtype; everything else (integer buffers,
non-tensor extra state such as Memformer's carried streams, the config, the optimizer history) is the newest
checkpoint's (most updates; the last given on a tie), so the result keeps a checkpoint's full layout.
Checkpoints are read one at a time (memory holds at most two plus the float64 sums). The paths averaged are
printed on stdout, one a line; the summary goes to stderr.
"""
import argparse
import os
import re
import sys
from typing import Dict, List, Optional, Tuple

import torch

from ..checkpointing.atomic_write import write_atomically
from ..checkpointing.reading import read_checkpoint
from ..errors import ConfigError, check

PATTERNS = {
    "epoch": (re.compile(r"^checkpoint(\d+)\.pt$"), "--num-epoch-checkpoints", "checkpoint<epoch>.pt"),
    "update": (re.compile(r"^checkpoint_\d+_(\d+)\.pt$"), "--num-update-checkpoints", "checkpoint_<epoch>_<update>.pt"),
}


def last_checkpoints(directory: str, count: int, by: str, upper_bound: Optional[int] = None) -> List[str]:
    """The last ``count`` epoch or update checkpoints of ``directory``, oldest first."""
    pattern, flag, shape = PATTERNS[by]
    check(os.path.isdir(directory), f"--inputs {directory} is not a directory (needed with {flag})")
    check(count >= 1, f"{flag} must be >= 1, got {count}")
    numbered = []
    for name in os.listdir(directory):
        match = pattern.match(name)
        if match and (upper_bound is None or int(match.group(1)) <= upper_bound):
            numbered.append((int(match.group(1)), name))
    bound = "" if upper_bound is None else f" up to --checkpoint-upper-bound {upper_bound}"
    check(len(numbered) >= count, f"{flag} {count}: found only {len(numbered)} {shape} files in {directory}{bound}")
    return [os.path.join(directory, name) for _, name in sorted(numbered)[-count:]]


def load_checkpoint(path: str) -> dict:
    """A checkpoint on the CPU, read under torch's default ``weights_only`` rules (the plugin allows fairseq's
    types); a damaged file is a one-line error naming it and what is wrong."""
    return read_checkpoint(path)


def num_updates(state: dict) -> int:
    history = state.get("optimizer_history") or [{}]
    return int(history[-1].get("num_updates", 0) or 0)


def _layout(model: Dict) -> Dict[str, Optional[tuple]]:
    """Key -> tensor shape (None for non-tensor entries)."""
    return {key: tuple(value.shape) if torch.is_tensor(value) else None for key, value in model.items()}


def _check_same_layout(reference: Dict, model: Dict, path: str, first: str) -> None:
    layout = _layout(model)
    missing, extra = sorted(set(reference) - set(layout)), sorted(set(layout) - set(reference))
    if missing or extra:
        detail = ", ".join([f"missing {k}" for k in missing[:3]] + [f"unexpected {k}" for k in extra[:3]])
        raise ConfigError(f"{path} does not have the parameters of {first}: {detail}")
    for key, shape in layout.items():
        if shape != reference[key]:
            raise ConfigError(f"{path}: {key} has shape {shape}, {first} has {reference[key]}")


def average_checkpoints(paths: List[str]) -> dict:
    """The newest checkpoint of ``paths`` with its model tensors replaced by the mean over all of them."""
    check(len(paths) >= 1, "--inputs: no checkpoints to average")
    sums: Dict[str, torch.Tensor] = {}
    newest: Optional[Tuple[int, int, dict]] = None
    for index, path in enumerate(paths):
        state = load_checkpoint(path)
        model = state["model"]
        if index == 0:
            layout = _layout(model)
            sums = {k: v.double().clone() for k, v in model.items() if torch.is_tensor(v) and v.is_floating_point()}
        else:
            _check_same_layout(layout, model, path, paths[0])
            for key, total in sums.items():
                total.add_(model[key].double())
        rank = (num_updates(state), index)
        if newest is None or rank >= newest[:2]:
            newest = (*rank, state)
        del state, model
    result = newest[2]
    for key, total in sums.items():
        result["model"][key] = (total / len(paths)).to(result["model"][key].dtype)
    return result


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", nargs="+", required=True,
                        help="checkpoint files, or one directory with --num-epoch-checkpoints or "
                             "--num-update-checkpoints")
    parser.add_argument("--output", required=True, help="where to write the averaged checkpoint")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--num-epoch-checkpoints", type=int, help="average the last N checkpoint<epoch>.pt")
    which.add_argument("--num-update-checkpoints", type=int, help="average the last N checkpoint_<epoch>_<update>.pt")
    parser.add_argument("--checkpoint-upper-bound", type=int,
                        help="ignore checkpoints after this epoch (or update, with --num-update-checkpoints)")
    return parser.parse_args(argv)


def selected_inputs(args) -> List[str]:
    by = "epoch" if args.num_epoch_checkpoints is not None else "update" if args.num_update_checkpoints else None
    if by is None:
        check(args.checkpoint_upper_bound is None,
              "--checkpoint-upper-bound needs --num-epoch-checkpoints or --num-update-checkpoints")
        for path in args.inputs:
            check(os.path.isfile(path), f"--inputs {path} is not a checkpoint file (a directory needs "
                                        "--num-epoch-checkpoints or --num-update-checkpoints)")
        return list(args.inputs)
    check(len(args.inputs) == 1, f"--inputs takes one directory with {PATTERNS[by][1]}, got {len(args.inputs)} paths")
    count = args.num_epoch_checkpoints if by == "epoch" else args.num_update_checkpoints
    return last_checkpoints(args.inputs[0], count, by, args.checkpoint_upper_bound)


def main(argv=None) -> None:
    args = parse_args(argv)
    paths = selected_inputs(args)
    averaged = average_checkpoints(paths)
    out_dir = os.path.dirname(os.path.abspath(args.output))
    os.makedirs(out_dir, exist_ok=True)
    write_atomically(args.output, lambda f: torch.save(averaged, f))  # never a truncated file under the final name
    print("\n".join(paths))  # stdout: the averaged checkpoints, one a line, for scripts to record
    print(f"averaged {len(paths)} checkpoints ({', '.join(os.path.basename(p) for p in paths)}) "
          f"into {args.output} (config and step count of the newest: {num_updates(averaged)} updates)", file=sys.stderr)


if __name__ == "__main__":
    main()

"""Perplexity by position in the block: where in its context a language model loses to another.

Each checkpoint scores the same blocks of a split through fairseq's ``SequenceScorer`` (the scorer fairseq-eval-lm
uses), and the per-token losses are pooled by the number of tokens of context each target token had, in buckets
that double: 0, 1, 2-3, 4-7, ... A gap that grows with position points at the memory (its size or normaliser); a
gap already there at a few tokens points at what the attention can do with a short context. Ratios are to the
first checkpoint.

    python -m memattn_fairseq.study.positions data-bin/kernel-docs runs/study/lm-core/runs/transformer-c512-s1 \\
        runs/study/lm-core/runs/memsizer32-c512-s1 [--split valid] [--max-blocks 400]

A run directory stands for its ``checkpoints/checkpoint_last.pt``. Memformer carries its memory from block to
block, so a block scored alone is not its perplexity: it is refused (fairseq-eval-lm scores it as a stream).
"""
import argparse
import math
from pathlib import Path
from typing import List, Sequence, Tuple

import torch
from fairseq.sequence_scorer import SequenceScorer
from fairseq.tasks import TASK_REGISTRY

from ..errors import ConfigError, check
from ..model_list import MODELS
from ..recipes.state_size import device_of, load_model


def bucket_edges(length: int) -> List[int]:
    """Doubling bucket starts for positions 0 .. length-1: [0, 1, 2, 4, ..., < length]."""
    edges, start = [0], 1
    while start < length:
        edges.append(start)
        start *= 2
    return edges


def bucket_label(edges: Sequence[int], index: int, length: int) -> str:
    last = (edges[index + 1] if index + 1 < len(edges) else length) - 1
    return str(edges[index]) if last == edges[index] else f"{edges[index]}-{last}"


def checkpoint_path(path: Path) -> Path:
    return path / "checkpoints" / "checkpoint_last.pt" if path.is_dir() else path


@torch.no_grad()
def position_losses(model, task, split: str, max_blocks: int, batch_size: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """(loss sum [L], token count [L]) in nats by position in the block, over the first ``max_blocks`` blocks."""
    task.load_dataset(split)
    dataset = task.dataset(split)
    scorer = SequenceScorer(task.target_dictionary)
    length = max(int(dataset.size(i)) for i in range(min(len(dataset), max_blocks)))
    losses, counts = torch.zeros(length, dtype=torch.float64), torch.zeros(length, dtype=torch.float64)
    device = device_of(model)
    for start in range(0, min(len(dataset), max_blocks), batch_size):
        indices = range(start, min(start + batch_size, len(dataset), max_blocks))
        sample = dataset.collater([dataset[i] for i in indices])
        sample["net_input"] = {k: v.to(device) if torch.is_tensor(v) else v for k, v in sample["net_input"].items()}
        sample["target"] = sample["target"].to(device)
        for hypos in scorer.generate([model], sample):
            scores = -hypos[0]["positional_scores"].double().cpu()  # [n] nats, position 0 first
            losses[: len(scores)] += scores
            counts[: len(scores)] += 1
    return losses, counts


def bucket_perplexities(losses: torch.Tensor, counts: torch.Tensor, edges: Sequence[int]) -> List[float]:
    bounds = list(edges[1:]) + [len(losses)]
    return [math.exp(losses[a:b].sum().item() / max(counts[a:b].sum().item(), 1)) for a, b in zip(edges, bounds)]


def report(labels: Sequence[str], table: Sequence[Tuple[float, List[float]]], edges: Sequence[int],
           length: int) -> str:
    """Markdown: perplexity per bucket, then each checkpoint's ratio to the first."""
    heads = ["model", "all"] + [bucket_label(edges, i, length) for i in range(len(edges))]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for label, (overall, buckets) in zip(labels, table):
        lines.append(f"| {label} | {overall:.1f} | " + " | ".join(f"{p:.1f}" for p in buckets) + " |")
    lines += ["", "ratio to " + labels[0] + ":", "", lines[0], lines[1]]
    base_overall, base = table[0]
    for label, (overall, buckets) in zip(labels[1:], table[1:]):
        lines.append(f"| {label} | {overall / base_overall:.3f} | "
                     + " | ".join(f"{p / b:.3f}" for p, b in zip(buckets, base)) + " |")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m memattn_fairseq.study.positions", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="binarised LM data (the checkpoints' dictionary)")
    parser.add_argument("checkpoints", nargs="+", type=Path, help="checkpoint files or study run directories")
    parser.add_argument("--split", default="valid")
    parser.add_argument("--max-blocks", type=int, default=400, help="blocks scored from the start of the split")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--cpu", action="store_true")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    check(args.max_blocks >= 1, f"--max-blocks must be >= 1, got {args.max_blocks}")
    check(args.batch_size >= 1, f"--batch-size must be >= 1, got {args.batch_size}")
    labels, table, length = [], [], 0
    for path in args.checkpoints:
        model, task = load_model(str(checkpoint_path(path)), args.data, args.cpu)
        if type(task) in {TASK_REGISTRY[m.task] for m in MODELS if m.stream}:
            raise ConfigError(f"{path} is a Memformer: it carries memory across blocks, so its blocks cannot be "
                              "scored alone (use fairseq-eval-lm)")
        losses, counts = position_losses(model, task, args.split, args.max_blocks, args.batch_size)
        check(length in (0, len(losses)), f"{path} scores {len(losses)}-token blocks, the first checkpoint "
              f"{length}-token blocks: compare checkpoints of one context")
        length = len(losses)
        labels.append(path.name if path.is_dir() else path.stem)
        table.append((math.exp(losses.sum().item() / counts.sum().item()), (losses, counts)))
        print(f"[positions] {labels[-1]}: {table[-1][0]:.2f}", flush=True)
    edges = bucket_edges(length)
    table = [(overall, bucket_perplexities(*sums, edges)) for overall, sums in table]
    print(report(labels, table, edges, length))


if __name__ == "__main__":
    main()

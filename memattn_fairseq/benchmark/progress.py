"""The benchmark's progress: a tqdm bar over the planned measurements in a terminal, one line per measurement in
a log (tqdm's own test: ``disable=None`` turns the bar off when stderr is not a terminal)."""
import sys
from typing import List

from tqdm import tqdm


def planned(args, lm_models: int, mt_models: int, sections: set, ints, recompared: int = 0, served: int = 0) -> int:
    """How many measurements ``run`` will take (one per progress message); ``recompared``: LMs whose training is
    also measured with recomputation off; ``served``: LMs the serve section measures."""
    batches = ints(args.batches)
    decode = sum(1 for b in batches for p in ints(args.prefixes) if b == 1 or p <= args.batched_prefix_limit)
    per_lm = (decode if "decode_lm" in sections else 0) + (len(ints(args.contexts)) if "train_lm" in sections else 0)
    total = per_lm * lm_models + (served if "serve" in sections else 0)
    if "train_lm" in sections:
        total += recompared * len(ints(args.contexts))
    if "decode_mt" in sections:
        total += mt_models * len(batches) * len(ints(args.sources))
    if "mrbp" in sections:
        total += 2 * len(ints(args.horizons))  # MRBP and full back-propagation at each horizon
    if "attention" in sections:
        total += 4 * len(ints(args.contexts))  # the four forms of attention_core.FORMS
    if "step" in sections:
        total += 2 * len(batches)  # ABC_MLP and MemSizer at each batch size
    return total


class Progress:
    """Called with a message as each measurement starts; ``close`` after the last one."""

    def __init__(self, total: int):
        self.bar = tqdm(total=total, desc="benchmark", unit="point", disable=None)
        self.messages: List[str] = []

    def __call__(self, message: str) -> None:
        if self.messages:
            self.bar.update()  # the previous measurement is done
        self.messages.append(message)
        if self.bar.disable:
            print(f"[benchmark] {message}", file=sys.stdout, flush=True)
        else:
            self.bar.set_postfix_str(message)

    def close(self) -> None:
        if self.messages:
            self.bar.update()
        self.bar.close()

"""The shared size and training budget of every run of a study: same width and depth, same optimiser and schedule,
same updates and tokens per update, whatever the model.

Sizes: ``tiny`` (the tests: seconds), ``cpu`` (the core comparison of one task in about 90 minutes on 2 cores)
and ``gpu`` (one GPU: a 6 x 512 model, 16k tokens per update). Language-model runs keep the tokens per update
fixed when the context changes (batch = tokens_per_update / context).
"""
from dataclasses import dataclass
from typing import Tuple

from ..errors import check


@dataclass(frozen=True)
class Budget:
    layers: int
    dim: int
    ffn: int
    heads: int
    tokens_per_update: int  # LM: batch x context; MT: --max-tokens
    updates: int
    validate_every: int
    lr: float
    warmup: int
    dropout: float = 0.1

    def model_flags(self, task: str, io_dims: bool) -> Tuple[str, ...]:
        """``io_dims``: also set --decoder-input-dim/--decoder-output-dim, which fairseq's transformer_lm (and the
        plugin LMs built on it) otherwise leave at 512 from the command line, adding projections and a 512-wide
        embedding to any smaller model."""
        sides = ("decoder",) if task == "lm" else ("encoder", "decoder")
        flags = ["--decoder-input-dim", self.dim, "--decoder-output-dim", self.dim] if io_dims else []
        for side in sides:
            flags += [f"--{side}-layers", self.layers, f"--{side}-embed-dim", self.dim,
                      f"--{side}-ffn-embed-dim", self.ffn, f"--{side}-attention-heads", self.heads]
        flags += ["--dropout", self.dropout]
        flags += ["--share-decoder-input-output-embed"] if task == "lm" else ["--share-all-embeddings"]
        return tuple(map(str, flags))

    def schedule_flags(self) -> Tuple[str, ...]:
        return tuple(map(str, (
            "--optimizer", "adam", "--adam-betas", "(0.9,0.98)", "--weight-decay", "0.01", "--clip-norm", "1.0",
            "--lr", self.lr, "--lr-scheduler", "inverse_sqrt", "--warmup-updates", self.warmup,
            "--warmup-init-lr", "1e-07", "--max-update", self.updates,
            "--validate-interval-updates", self.validate_every, "--validate-interval", 100000,
            "--save-interval-updates", self.validate_every, "--save-interval", 100000, "--keep-interval-updates", 1,
            "--no-epoch-checkpoints", "--log-format", "json", "--log-interval", self.validate_every,
            "--num-workers", 0, "--required-batch-size-multiple", 1)))

    def batch_flags(self, task: str, context: int) -> Tuple[str, ...]:
        if task == "mt":
            return ("--max-tokens", str(self.tokens_per_update))
        check(context >= 1 and self.tokens_per_update % context == 0,
              f"context {context} does not divide the study's {self.tokens_per_update} tokens per update")
        return ("--tokens-per-sample", str(context), "--batch-size", str(self.tokens_per_update // context))


BUDGETS = {
    "lm": {
        "tiny": Budget(1, 32, 64, 2, 1024, 6, 3, 2e-3, 2),
        "cpu": Budget(2, 128, 512, 4, 4096, 400, 80, 4e-3, 100),  # lr 4e-3: better than 2e-3 for every model
        "gpu": Budget(6, 512, 2048, 8, 16384, 6000, 500, 1e-3, 1000),
    },
    "mt": {
        "tiny": Budget(1, 32, 64, 2, 512, 6, 3, 2e-3, 2),
        # validation (greedy BLEU on 1,961 sentences) is a quarter of a run's time at every 100 updates: every 200
        "cpu": Budget(2, 128, 512, 4, 2048, 800, 200, 2e-3, 200),
        "gpu": Budget(6, 512, 2048, 8, 16384, 6000, 500, 1e-3, 1000),
    },
}

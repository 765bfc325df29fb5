"""One run of a study: fairseq-train a variant with the study's budget and one seed, then score it on test.

A run lives in ``OUT/runs/<name>/``: fairseq's checkpoints, ``train.log`` (fairseq's JSON log lines, appended
across restarts) and ``result.json``, written last. A run with ``result.json`` is finished and never redone; any
other run is started again with the same command, and fairseq resumes it from its ``checkpoint_last.pt``.

Curves come from the log: each validation's perplexity (LM) or greedy sacreBLEU (MT, fairseq's ``--eval-bleu`` on
detokenised output) against the update and the run's training seconds up to it: fairseq's ``train_wall`` of each
log interval, summed (its ``wall`` meter starts again from zero when a run resumes, so it is not used).
"""
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional

from ..errors import ConfigError
from ..recipes.bleu import sacre_bleu
from ..recipes.generation_log import parse_generate
from ..recipes.text_preprocess import fairseq_tool
from .budgets import Budget
from .variants import Variant

LOG_LINE = re.compile(r"\| (train_inner|valid) \| (\{.*\})\s*$")
PARAMS = re.compile(r"num\. shared model params: ([\d,]+)")
PERPLEXITY = re.compile(r"Perplexity: ([\d.]+)")
# translation and its validation: greedy sacreBLEU on detokenised output (also what fairseq-validate reports)
MT_TASK_FLAGS = ("--task", "translation", "--source-lang", "en", "--target-lang", "fr",
                 "--eval-bleu", "--eval-bleu-args", '{"beam": 1, "max_len_a": 1.2, "max_len_b": 10}',
                 "--eval-bleu-detok", "space", "--eval-bleu-remove-bpe", "sentencepiece")
MT_FLAGS = MT_TASK_FLAGS + ("--criterion", "label_smoothed_cross_entropy", "--label-smoothing", "0.1")


@dataclass(frozen=True)
class Run:
    task: str  # "lm" | "mt"
    variant: Variant
    context: int  # LM tokens per sample; 0 for MT
    seed: int

    @property
    def name(self) -> str:
        context = f"-c{self.context}" if self.task == "lm" else ""
        return f"{self.variant.name}{context}-s{self.seed}"

    @property
    def memformer(self) -> bool:
        return "memformer_lm" in self.variant.flags


def train_command(run: Run, data: Path, budget: Budget, save_dir: Path, device: str) -> List[str]:
    task_flags = MT_FLAGS if run.task == "mt" else ()
    size = budget.model_flags(run.task, io_dims=run.task == "lm" and not run.memformer)
    return [fairseq_tool("fairseq-train"), str(data), "--user-dir", str(Path(__file__).resolve().parents[1]),
            *task_flags, *run.variant.flags, *size, *budget.batch_flags(run.task, run.context),
            *budget.schedule_flags(), "--seed", str(run.seed), "--save-dir", str(save_dir),
            *(("--cpu",) if device == "cpu" else ())]


def log_records(log_path: Path):
    """(kind, stats) of every train_inner / valid line of a fairseq JSON log."""
    if not log_path.exists():
        return
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = LOG_LINE.search(line)
        if match:
            yield match.group(1), json.loads(match.group(2))


def curve(log_path: Path, task: str) -> List[dict]:
    """[{update, train_seconds, metric}] of every validation, the last record per update when a restart logged it
    twice. The log interval is the validation interval, so each interval's ``train_wall`` is counted once."""
    metric = "valid_bleu" if task == "mt" else "valid_ppl"
    interval_seconds, points = {}, {}
    for kind, stats in log_records(log_path):
        if kind == "train_inner":
            interval_seconds[int(stats["num_updates"])] = float(stats["train_wall"])
        elif metric in stats:
            update = int(stats["valid_num_updates"])
            points[update] = {"update": update, "metric": float(stats[metric])}
    seconds_until, total = {}, 0.0
    for update in sorted(interval_seconds):
        total += interval_seconds[update]
        seconds_until[update] = total
    return [{**points[u], "train_seconds": seconds_until.get(u)} for u in sorted(points)]


def run_tool(command: List[str], what: str, log_path: Path) -> str:
    """Run ``command``, append the command and its output to ``log_path``; its output (one-line error if it fails)."""
    result = subprocess.run(command, capture_output=True, text=True)
    with open(log_path, "a", encoding="utf-8") as log:
        log.write("$ " + " ".join(command) + "\n" + result.stdout + result.stderr)
    if result.returncode != 0:
        raise ConfigError(f"{what} failed with exit status {result.returncode}: see {log_path}")
    return result.stdout + result.stderr


def test_score(run: Run, data: Path, budget: Budget, checkpoint: Path, device: str, log_path: Path) -> float:
    """Test perplexity (fairseq-eval-lm over blocks of the context; Memformer: stateful streams) or test sacreBLEU
    (fairseq-generate, beam 4, detokenised, against DATA/raw/test.fr)."""
    common = ["--user-dir", str(Path(__file__).resolve().parents[1]), "--path", str(checkpoint), "--gen-subset",
              "test", *(("--cpu",) if device == "cpu" else ())]
    if run.task == "lm":
        batch = budget.batch_flags("lm", run.context)
        task = ("--task", "memformer_lm") if run.memformer else ()
        out = run_tool([fairseq_tool("fairseq-eval-lm"), str(data), *common, *task, *batch], "fairseq-eval-lm",
                        log_path)
        found = PERPLEXITY.findall(out)
        if not found:
            raise ConfigError(f"fairseq-eval-lm printed no perplexity: see {log_path}")
        return float(found[-1])
    out = run_tool([fairseq_tool("fairseq-generate"), str(data), *common, "--source-lang", "en", "--target-lang",
                     "fr", "--beam", "4", "--lenpen", "0.6", "--post-process", "sentencepiece", "--max-tokens",
                     str(2 * budget.tokens_per_update), "--required-batch-size-multiple", "1"],
                    "fairseq-generate", log_path)
    references = (data / "raw" / "test.fr").read_text(encoding="utf-8").splitlines()
    hypotheses = parse_generate(out).ordered(len(references), detokenized=False)
    return sacre_bleu(hypotheses, references)["score"]


def execute(run: Run, data: Path, budget: Budget, out_dir: Path, device: str,
            on_line: Optional[Callable[[str], None]] = None) -> dict:
    """Train (or resume) ``run`` and score it; its result (also written to result.json)."""
    run_dir = out_dir / "runs" / run.name
    result_path = run_dir / "result.json"
    if result_path.exists():
        return json.loads(result_path.read_text())
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / "train.log"
    command = train_command(run, data, budget, run_dir / "checkpoints", device)
    with open(log_path, "a", encoding="utf-8") as log:
        log.write("$ " + " ".join(command) + "\n")
        log.flush()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in process.stdout:
            log.write(line)
            if on_line is not None:
                log.flush()
                on_line(line)
        status = process.wait()
    if status != 0:
        raise ConfigError(f"run {run.name} failed with exit status {status}: see {log_path}")
    points = curve(log_path, run.task)
    if not points or points[-1]["update"] < budget.updates:
        raise ConfigError(f"run {run.name} ended before update {budget.updates}: see {log_path}")
    params = PARAMS.findall(log_path.read_text(encoding="utf-8", errors="replace"))
    result = {
        "name": run.name, "task": run.task, "variant": run.variant.name, "context": run.context, "seed": run.seed,
        "params": int(params[-1].replace(",", "")) if params else None, "updates": points[-1]["update"],
        "train_seconds": points[-1]["train_seconds"], "valid": points[-1]["metric"],
        "test": test_score(run, data, budget, run_dir / "checkpoints" / "checkpoint_last.pt", device,
                           run_dir / "test.log"),
        "curve": points,
    }
    result_path.write_text(json.dumps(result, indent=1) + "\n")
    return result

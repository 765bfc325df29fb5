"""Multi-process CPU training through fairseq's own distributed path (gloo): N ranks stay identical and train
exactly like one process that accumulates N batches per update; bad settings fail in one line."""
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from cli_runner import REPO, TINY_LM, USER_DIR, lm_data, run

from memattn_fairseq.recipes import cpu_launch, experiments

LAUNCH = [sys.executable, "-m", "memattn_fairseq.recipes.cpu_launch"]


def launch(*args, expect_fail=False):
    """``python -m memattn_fairseq.recipes.cpu_launch ARGS`` from the repository root; returns its output."""
    return run(LAUNCH[0], *LAUNCH[1:], *args, cwd=REPO, expect_fail=expect_fail)


def rank_params(directory, rank):
    state = torch.load(os.path.join(directory, f"rank{rank}.pt"))
    return state["num_updates"], state["params"]


def assert_same(a, b, atol):
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], rtol=0, atol=atol), (name, (a[name] - b[name]).abs().max())


def two_runs(one, two):
    """Run the 1-process and the 2-process command side by side (most of each is interpreter start-up)."""
    with ThreadPoolExecutor(2) as pool:
        return [f.result() for f in [pool.submit(launch, *one), pool.submit(launch, *two)]]


@pytest.fixture(scope="module")
def lm_bin(tmp_path_factory):
    return lm_data(str(tmp_path_factory.mktemp("lm")))


def test_two_lm_ranks_train_like_one_process_with_update_freq_2(lm_bin, tmp_path):
    """fairseq-train style: fairseq deals the epoch's batches round-robin to the ranks, so 2 ranks x 1 batch per
    update see exactly the batches of 1 process with --update-freq 2 (fixed batches of 4 x 64 tokens, no dropout)."""
    train = ["train", lm_bin, "--user-dir", USER_DIR, "--task", "language_modeling", "--arch", "abc_lm", *TINY_LM,
             "--abc-slots", "8", "--tokens-per-sample", "64", "--batch-size", "4", "--required-batch-size-multiple",
             "1", "--max-update", "5", "--dropout", "0", "--optimizer", "adam", "--lr", "0.003", "--seed", "3",
             "--no-epoch-checkpoints", "--num-workers", "0", "--log-format", "simple"]
    one, two = tmp_path / "one", tmp_path / "two"
    _, log = two_runs(
        ["--nproc", "1", "--rank-params-dir", one, *train, "--update-freq", "2", "--save-dir", one / "ckpt"],
        ["--nproc", "2", "--rank-params-dir", two, *train, "--save-dir", two / "ckpt"],
    )
    assert "distributed init (rank 1)" in log and "initialized host" in log
    (n0, rank0), (n1, rank1), (m, single) = rank_params(two, 0), rank_params(two, 1), rank_params(one, 0)
    assert n0 == n1 == m == 5
    assert_same(rank0, rank1, atol=0)  # the replicas apply the same all-reduced gradients
    assert_same(rank0, single, atol=1e-5)
    saved = torch.load(two / "ckpt" / "checkpoint_last.pt", weights_only=False)["model"]
    assert_same(rank0, {name: saved[name] for name in rank0}, atol=0)  # what fairseq saved on rank 0


def test_memformer_experiment_config_streams_split_over_ranks(lm_bin, tmp_path):
    """fairseq-hydra-train style, on the WikiText-103 Memformer experiment config at smoke size: its 8 streams run
    as 8 rows in one process or 4 rows on each of 2 ranks, and both train the same model."""
    hydra = ["hydra-train", "--config-dir", experiments.CONFIGS, "--config-name", "wikitext103/memformer",
             f"task.data={lm_bin}", f"common.user_dir={USER_DIR}", *experiments.smoke_overrides("wikitext103",
                                                                                             "memformer"),
             "model.dropout=0", "dataset.num_workers=0", "optimization.max_update=4", "common.fp16=false"]
    one, two = tmp_path / "one", tmp_path / "two"
    _, log = two_runs(
        ["--nproc", "1", "--rank-params-dir", one, *hydra, "dataset.batch_size=8", f"checkpoint.save_dir={one}/c"],
        ["--nproc", "2", "--rank-params-dir", two, *hydra, "dataset.batch_size=4", f"checkpoint.save_dir={two}/c"],
    )
    assert "split 'train' as 8 streams" in log and "num_updates 4" in log
    (n0, rank0), (n1, rank1), (m, single) = rank_params(two, 0), rank_params(two, 1), rank_params(one, 0)
    assert n0 == n1 == m == 4
    assert_same(rank0, rank1, atol=0)
    assert_same(rank0, single, atol=1e-5)


@pytest.mark.parametrize("args, message", [
    (["--nproc", "0", "train", "data"], "--nproc must be >= 1, got 0"),
    (["--nproc", "two", "train", "data"], "argument --nproc: invalid int value: 'two'"),
    (["--nproc", "2", "train", "data", "--ddp-backend", "pytorch_ddp"],
     "--ddp-backend=pytorch_ddp cannot train CPU processes"),
    (["--nproc", "2", "train", "data", "--distributed-world-size", "4"], "--distributed-world-size is set by"),
    (["--nproc", "2", "hydra-train", "distributed_training.distributed_rank=1"],
     "distributed_training.distributed_rank is set by cpu_launch"),
    (["--nproc", "2", "hydra-train", "distributed_training.ddp_backend=c10d"],
     "distributed_training.ddp_backend=c10d cannot train CPU processes"),
])
def test_settings_the_launcher_owns_are_refused(args, message, capsys):
    assert cpu_launch.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cpu_launch: error: ") and message in err and "\n" not in err


def test_rank_arguments_reach_fairseq_unchanged():
    assert cpu_launch.rank_args("train", 1, 2, "file:///x") == [
        "--cpu", "--distributed-world-size", "2", "--distributed-rank", "1", "--distributed-init-method",
        "file:///x", "--distributed-no-spawn", "--device-id", "1", "--distributed-backend", "gloo", "--ddp-backend",
        "legacy_ddp", "--load-checkpoint-on-all-dp-ranks"]
    assert cpu_launch.rank_args("hydra-train", 0, 1, None) == [
        "common.cpu=true", "distributed_training.distributed_world_size=1"]
    assert "distributed_training.distributed_init_method='tcp://127.0.0.1:29500'" in cpu_launch.rank_args(
        "hydra-train", 0, 2, "tcp://127.0.0.1:29500")


def test_a_failing_rank_stops_the_run_with_its_one_line_error(lm_bin, tmp_path):
    log = launch("--nproc", "2", "train", lm_bin, "--user-dir", USER_DIR, "--task", "language_modeling", "--arch",
                 "abc_lm", *TINY_LM, "--abc-slots", "0", "--tokens-per-sample", "64", "--max-tokens", "256",
                 "--max-update", "1", "--save-dir", tmp_path, "--num-workers", "0", expect_fail=True)
    assert "memattn_fairseq: error: --abc-slots must be >= 1" in log and "Traceback" not in log

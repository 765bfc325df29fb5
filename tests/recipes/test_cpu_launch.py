"""Multi-process CPU training through fairseq's own distributed flags (gloo, one process per rank): N ranks stay
identical and train exactly like one process that accumulates N batches per update; the training scripts' --nproc
starts the ranks, refuses the settings it owns and stops on a failing rank with its one-line error."""
import os
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from cli_runner import REPO, TINY_LM, USER_DIR, lm_data, run

from memattn_fairseq.recipes import experiments

RECORD = [sys.executable, os.path.join(REPO, "tests", "record_rank_params.py")]  # fairseq's tool + rank params


def rank_params(directory, rank):
    state = torch.load(os.path.join(directory, f"rank{rank}.pt"))
    return state["num_updates"], state["params"]


def assert_same(a, b, atol):
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], rtol=0, atol=atol), (name, (a[name] - b[name]).abs().max())


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def runs(*commands):
    """Run the commands side by side (most of each is interpreter start-up); returns their outputs."""
    with ThreadPoolExecutor(len(commands)) as pool:
        return [f.result() for f in [pool.submit(run, *command, cwd=REPO) for command in commands]]


def train_script(task, *args):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    script = os.path.join(REPO, experiments.TASKS[task].script)
    proc = subprocess.run(["bash", script, *map(str, args)], capture_output=True, text=True, env=env, timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def lm_bin(tmp_path_factory):
    return lm_data(str(tmp_path_factory.mktemp("lm")))


def test_two_lm_ranks_train_like_one_process_with_update_freq_2(lm_bin, tmp_path):
    """fairseq-train with fairseq's --distributed-* flags, one process per rank: fairseq deals the epoch's batches
    round-robin to the ranks, so 2 ranks x 1 batch per update see exactly the batches of 1 process with
    --update-freq 2 (fixed batches of 4 x 64 tokens, no dropout)."""
    train = ["train", lm_bin, "--user-dir", USER_DIR, "--task", "language_modeling", "--arch", "abc_lm", *TINY_LM,
             "--abc-slots", "8", "--tokens-per-sample", "64", "--batch-size", "4", "--required-batch-size-multiple",
             "1", "--max-update", "5", "--dropout", "0", "--optimizer", "adam", "--lr", "0.003", "--seed", "3",
             "--no-epoch-checkpoints", "--num-workers", "0", "--log-format", "simple", "--cpu"]
    one, two = tmp_path / "one", tmp_path / "two"
    port = free_port()
    ranks = [[*RECORD, two, *train, "--save-dir", two / "ckpt", "--distributed-world-size", "2", "--distributed-rank",
              str(rank), "--distributed-init-method", f"tcp://127.0.0.1:{port}", "--distributed-no-spawn",
              "--distributed-backend", "gloo", "--ddp-backend", "legacy_ddp"] for rank in (0, 1)]
    _, *logs = runs([*RECORD, one, *train, "--update-freq", "2", "--save-dir", one / "ckpt"], *ranks)
    log = "\n".join(logs)
    assert "distributed init (rank 1)" in log and "initialized host" in log
    (n0, rank0), (n1, rank1), (m, single) = rank_params(two, 0), rank_params(two, 1), rank_params(one, 0)
    assert n0 == n1 == m == 5
    assert_same(rank0, rank1, atol=0)  # the replicas apply the same all-reduced gradients
    assert_same(rank0, single, atol=1e-5)
    saved = torch.load(two / "ckpt" / "checkpoint_last.pt", weights_only=False)["model"]
    assert_same(rank0, {name: saved[name] for name in rank0}, atol=0)  # what fairseq saved on rank 0


def test_memformer_experiment_config_streams_split_over_ranks(lm_bin, tmp_path):
    """fairseq-hydra-train on the WikiText-103 Memformer experiment config at smoke size, each rank with the
    overrides the training scripts give it: its 8 streams run as 8 rows in one process or 4 rows on each of 2 ranks,
    and both train the same model."""
    hydra = ["hydra-train", "--config-dir", experiments.CONFIGS, "--config-name", "wikitext103/memformer",
             f"task.data={lm_bin}", f"common.user_dir={USER_DIR}", *experiments.smoke_overrides("wikitext103",
                                                                                             "memformer"),
             "model.dropout=0", "dataset.num_workers=0", "optimization.max_update=4", "common.fp16=false"]
    one, two = tmp_path / "one", tmp_path / "two"
    rendezvous = f"{experiments.RENDEZVOUS_KEY}='file://{tmp_path}/rendezvous'"
    ranks = [[*RECORD, two, *hydra, "dataset.batch_size=4", f"checkpoint.save_dir={two}/c",
              *experiments.cpu_rank_overrides(2), f"{experiments.RANK_KEY}={rank}", rendezvous] for rank in (0, 1)]
    _, *logs = runs([*RECORD, one, *hydra, "dataset.batch_size=8", f"checkpoint.save_dir={one}/c",
                     *experiments.ONE_CPU_PROCESS], *ranks)
    log = "\n".join(logs)
    assert "split 'train' as 8 streams" in log and "num_updates 4" in log
    (n0, rank0), (n1, rank1), (m, single) = rank_params(two, 0), rank_params(two, 1), rank_params(one, 0)
    assert n0 == n1 == m == 4
    assert_same(rank0, rank1, atol=0)
    assert_same(rank0, single, atol=1e-5)


@pytest.mark.parametrize("args, message", [
    (["--nproc", "0"], "--nproc must be an integer >= 1, got '0'"),
    (["--nproc", "two"], "--nproc must be an integer >= 1, got 'two'"),
    (["--nproc", "2", "--", "distributed_training.distributed_world_size=4"],
     "distributed_training.distributed_world_size is set by --nproc"),
    (["--nproc", "2", "--", "distributed_training.distributed_rank=1"],
     "distributed_training.distributed_rank is set by --nproc; leave it out"),
    (["--nproc", "2", "--", "distributed_training.ddp_backend=c10d"],
     "distributed_training.ddp_backend=c10d cannot train CPU processes"),
])
def test_settings_the_ranks_own_are_refused(lm_bin, args, message):
    status, out = train_script("wikitext103", "abc_mlp", "--data", lm_bin, *args)
    lines = out.strip().splitlines()
    assert status == 2 and len(lines) == 1, out
    assert lines[0].startswith("train_wikitext103.sh: error: ") and message in lines[0]


def test_rank_commands_carry_fairseqs_own_distributed_settings(lm_bin):
    argv = ["abc_mlp", "--data", lm_bin, "--nproc", "2"]
    command = experiments.train_command("wikitext103", "prog", argv)
    assert experiments.processes("prog", argv) == 2 and command[0].endswith("fairseq-hydra-train")
    assert command[-5:] == ["common.cpu=true", "distributed_training.distributed_world_size=2",
                            "distributed_training.distributed_no_spawn=true",
                            "distributed_training.distributed_backend=gloo",
                            "distributed_training.ddp_backend=legacy_ddp"]
    assert experiments.processes("prog", ["abc_mlp"]) == 1


def test_a_failing_rank_stops_the_run_with_its_one_line_error(lm_bin, tmp_path):
    status, log = train_script("wikitext103", "abc_mlp", "--smoke", "--nproc", "2", "--data", lm_bin, "--save-dir",
                               tmp_path, "--", "model.abc_slots=0")
    assert status != 0
    assert "memattn_fairseq: error: --abc-slots must be >= 1" in log and "Traceback" not in log

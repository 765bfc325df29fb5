"""Data-parallel training in N CPU processes (gloo), through fairseq's own distributed training.

    python -m memattn_fairseq.recipes.cpu_launch --nproc N train DATA --arch ... [fairseq-train flags]
    python -m memattn_fairseq.recipes.cpu_launch --nproc N hydra-train --config-dir configs --config-name NAME [...]

fairseq cannot start CPU processes by itself: its own spawning starts ``torch.cuda.device_count()`` processes (none
without a GPU), and under torchrun it takes ``RANK % torch.cuda.device_count()`` as the device (a division by
zero). This launcher forks the N ranks itself and appends what lets fairseq's ``distributed_utils.call_main`` skip
both: an explicit rendezvous (``distributed_init_method``), the world size and the rank, ``distributed_no_spawn``,
the gloo backend, ``--cpu``, and ``legacy_ddp`` (torch's DDP wrapper refuses CPU modules once fairseq hands it GPU
device ids). Everything else (batch sharding, gradient all-reduce, checkpoints written by rank 0, resume) is
fairseq's unchanged code path.

Batches: fairseq deals the epoch's batches round-robin to the ranks and each update all-reduces one batch per
rank, so N processes train like one process with ``--update-freq N`` (the same samples, the same updates).

``--master-port P`` meets over TCP on 127.0.0.1:P (default: a file store in a fresh temporary directory, which
needs no free port). ``--rank-params-dir DIR``: every rank also writes its model parameters to ``DIR/rank<R>.pt``
at each checkpoint save, to check that the replicas stay identical. ``--nproc 1`` runs the tool in this process,
on the CPU, without a process group. A plugin error prints once, as one line (exit status 2); if a rank fails
otherwise the others are stopped and its exit status is returned.
"""
import argparse
import functools
import os
import shutil
import sys
import tempfile
from multiprocessing import connection, get_context
from typing import List, Optional

from ..errors import ConfigError, root_config_error, check

TOOLS = ("train", "hydra-train")

# Settings this launcher owns: a user value would fight the rendezvous it builds (argparse flag -> Hydra key).
OWNED = {
    "--distributed-world-size": "distributed_training.distributed_world_size",
    "--distributed-rank": "distributed_training.distributed_rank",
    "--distributed-init-method": "distributed_training.distributed_init_method",
    "--distributed-port": "distributed_training.distributed_port",
    "--distributed-num-procs": "distributed_training.distributed_num_procs",
    "--distributed-no-spawn": "distributed_training.distributed_no_spawn",
    "--distributed-backend": "distributed_training.distributed_backend",
    "--device-id": "distributed_training.device_id",
    "--local_rank": "distributed_training.device_id",
}
CPU_DDP_BACKENDS = ("legacy_ddp", "no_c10d")  # the wrappers that accept CPU modules


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        raise ConfigError(message)


def parse_args(argv: List[str]) -> argparse.Namespace:
    parser = _Parser(
        prog="python -m memattn_fairseq.recipes.cpu_launch",
        description="Train with fairseq in N CPU processes (gloo): "
                    "--nproc N train <fairseq-train args> | --nproc N hydra-train <fairseq-hydra-train args>",
    )
    parser.add_argument("--nproc", type=int, required=True, help="number of training processes (ranks)")
    parser.add_argument("--master-port", type=int, default=None,
                        help="rendezvous on tcp://127.0.0.1:PORT (default: a file store in a temporary directory)")
    parser.add_argument("--rank-params-dir", default=None,
                        help="every rank writes its model parameters to DIR/rank<R>.pt at each checkpoint save")
    parser.add_argument("tool", choices=TOOLS, help="fairseq tool: train (fairseq-train) or hydra-train")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the tool's own arguments")
    args = parser.parse_args(argv)
    check(args.nproc >= 1, f"--nproc must be >= 1, got {args.nproc}")
    check(args.master_port is None or 0 < args.master_port < 65536,
          f"--master-port must be in 1..65535, got {args.master_port}")
    check_user_args(args.tool, args.args)
    return args


def _user_settings(tool: str, tool_args: List[str]) -> dict:
    """{flag or Hydra key: value} for the settings in ``tool_args`` (argparse flags or Hydra overrides)."""
    settings = {}
    for i, arg in enumerate(tool_args):
        if tool == "train" and arg.startswith("--"):
            flag, eq, value = arg.partition("=")
            if not eq:
                following = tool_args[i + 1] if i + 1 < len(tool_args) else ""
                value = "" if following.startswith("--") else following
            settings[flag] = value
        elif tool == "hydra-train" and "=" in arg and not arg.startswith("-"):
            key, _, value = arg.partition("=")
            settings[key.lstrip("+~")] = value.strip("'\"")
    return settings


def check_user_args(tool: str, tool_args: List[str]) -> None:
    """Refuse settings that the launcher sets itself, or that cannot run in CPU processes (one-line errors)."""
    settings = _user_settings(tool, tool_args)
    for flag, key in OWNED.items():
        name = flag if tool == "train" else key
        check(name not in settings, f"{name} is set by cpu_launch (from --nproc); leave it out")
    name = "--ddp-backend" if tool == "train" else "distributed_training.ddp_backend"
    backend = settings.get(name)
    check(backend is None or backend in CPU_DDP_BACKENDS,
          f"{name}={backend} cannot train CPU processes (torch DDP is given GPU device ids); "
          f"leave it out (cpu_launch uses legacy_ddp)")


def rank_args(tool: str, rank: int, nproc: int, init_method: Optional[str]) -> List[str]:
    """The arguments that make one fairseq process rank ``rank`` of ``nproc`` CPU processes."""
    if nproc == 1:
        settings = {"cpu": True, "distributed_world_size": 1}
    else:
        settings = {
            "cpu": True,
            "distributed_world_size": nproc,
            "distributed_rank": rank,
            "distributed_init_method": init_method,
            "distributed_no_spawn": True,
            "device_id": rank,
            "distributed_backend": "gloo",
            "ddp_backend": "legacy_ddp",
            # every rank reads the checkpoint it resumes from itself: fairseq's broadcast from rank 0 unpickles
            # it with torch.load's weights_only default (torch >= 2.6), which refuses its omegaconf objects
            "load_checkpoint_on_all_dp_ranks": True,
        }
    if tool == "train":
        out = []
        for name, value in settings.items():
            flag = "--" + name.replace("_", "-")
            out += [flag] if value is True else [flag, str(value)]
        return out
    section = {"cpu": "common", "load_checkpoint_on_all_dp_ranks": "checkpoint"}
    return [f"{section.get(name, 'distributed_training')}.{name}={_hydra_value(value)}"
            for name, value in settings.items()]


def _hydra_value(value) -> str:
    if value is True:
        return "true"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"  # URLs hold ':' and '/'
    return str(value)


def _write_params_on_save(directory: str, rank: int) -> None:
    """After every checkpoint save (which fairseq runs on all ranks, writing on rank 0 only), write this rank's
    model parameters to ``directory/rank<R>.pt``."""
    import torch
    from fairseq import checkpoint_utils

    save_checkpoint = checkpoint_utils.save_checkpoint

    @functools.wraps(save_checkpoint)
    def save_and_write_params(cfg, trainer, epoch_itr, val_loss):
        result = save_checkpoint(cfg, trainer, epoch_itr, val_loss)
        os.makedirs(directory, exist_ok=True)
        params = {name: p.detach().cpu().clone() for name, p in trainer.get_model().named_parameters()}
        path = os.path.join(directory, f"rank{rank}.pt")
        torch.save({"num_updates": trainer.get_num_updates(), "params": params}, path + ".tmp")
        os.replace(path + ".tmp", path)
        return result

    # fairseq_cli.train calls it as checkpoint_utils.save_checkpoint(...), so replacing the attribute reaches it
    checkpoint_utils.save_checkpoint = save_and_write_params


def _cli_main(tool: str):
    if tool == "train":
        from fairseq_cli.train import cli_main
    else:
        from fairseq_cli.hydra_train import cli_main
    return cli_main


def _run_rank(rank: int, nproc: int, init_method: Optional[str], tool: str, tool_args: List[str],
              params_dir: Optional[str], threads: int, errors=None) -> None:
    """One rank: run the fairseq tool in this process with its rank's arguments appended. A plugin error (every
    rank meets the same one) goes to ``errors`` for the launcher to print once, else to stderr; exit status 2."""
    import torch

    torch.set_num_threads(threads)
    if params_dir:
        _write_params_on_save(params_dir, rank)
    sys.argv = [f"fairseq-{tool}", *tool_args, *rank_args(tool, rank, nproc, init_method)]
    try:
        _cli_main(tool)()
    except Exception as exc:
        # The plugin's one-line errors, printed here: once the process group exists, torch's excepthook wraps the
        # plugin's and drops what it prints when it exits.
        error = root_config_error(exc)
        if error is None:
            raise
        if errors is None:
            print(f"memattn_fairseq: error: {error}", file=sys.stderr)
        else:
            errors.put(str(error))
        sys.exit(2)


def _threads_per_rank(nproc: int) -> int:
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    return max(1, (os.cpu_count() or 1) // nproc)


def _wait(procs) -> int:
    """Wait for every rank; as soon as one fails stop the others (they would wait for it in a collective)."""
    status, running = 0, list(procs)
    while running:
        connection.wait([p.sentinel for p in running])
        for proc in [p for p in running if p.exitcode is not None]:
            running.remove(proc)
            if proc.exitcode != 0 and status == 0:
                status = proc.exitcode if proc.exitcode > 0 else 1
                for other in running:
                    other.terminate()
    return status


def launch(args: argparse.Namespace) -> int:
    """Run the tool in ``args.nproc`` CPU processes; returns the exit status (the first failing rank's)."""
    threads = _threads_per_rank(args.nproc)
    params_dir = os.path.abspath(args.rank_params_dir) if args.rank_params_dir else None
    if args.nproc == 1:
        try:
            _run_rank(0, 1, None, args.tool, args.args, params_dir, threads)
        except SystemExit as stop:
            return 0 if stop.code is None else stop.code if isinstance(stop.code, int) else 1
        return 0
    rendezvous = None
    if args.master_port is not None:
        init_method = f"tcp://127.0.0.1:{args.master_port}"
    else:  # a file store: no port to find free
        rendezvous = tempfile.mkdtemp(prefix="cpu_launch_")
        init_method = "file://" + os.path.join(rendezvous, "store")
    _cli_main(args.tool)  # imported once here: the forked ranks start with fairseq in memory
    context = get_context("fork")  # nothing has started a thread yet
    errors = context.SimpleQueue()
    procs = [context.Process(target=_run_rank, name=f"rank{rank}",
                             args=(rank, args.nproc, init_method, args.tool, args.args, params_dir, threads, errors))
             for rank in range(args.nproc)]
    try:
        for proc in procs:
            proc.start()
        status = _wait(procs)
        if not errors.empty():
            print(f"memattn_fairseq: error: {errors.get()}", file=sys.stderr)
        return status
    except KeyboardInterrupt:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        return 130
    finally:
        for proc in procs:
            proc.join()
        if rendezvous:
            shutil.rmtree(rendezvous, ignore_errors=True)


def main(argv: Optional[List[str]] = None) -> int:
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
    except ConfigError as error:
        print(f"cpu_launch: error: {error}", file=sys.stderr)
        return 2
    return launch(args)


if __name__ == "__main__":
    sys.exit(main())

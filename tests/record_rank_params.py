"""Run fairseq-train or fairseq-hydra-train in this process and, after every checkpoint save (which fairseq runs on
every rank, writing the file on rank 0 only), write this rank's parameters to DIR/rank<R>.pt, so that tests can
compare data-parallel replicas:

    python tests/record_rank_params.py DIR train|hydra-train [the tool's arguments]
"""
import functools
import os
import sys

import torch
from fairseq import checkpoint_utils


def record_params_on_save(directory: str) -> None:
    save_checkpoint = checkpoint_utils.save_checkpoint

    @functools.wraps(save_checkpoint)
    def save_and_record(cfg, trainer, epoch_itr, val_loss):
        result = save_checkpoint(cfg, trainer, epoch_itr, val_loss)
        os.makedirs(directory, exist_ok=True)
        params = {name: p.detach().cpu().clone() for name, p in trainer.get_model().named_parameters()}
        rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
        path = os.path.join(directory, f"rank{rank}.pt")
        torch.save({"num_updates": trainer.get_num_updates(), "params": params}, path + ".tmp")
        os.replace(path + ".tmp", path)
        return result

    # fairseq_cli.train calls checkpoint_utils.save_checkpoint(...), so replacing the attribute reaches it
    checkpoint_utils.save_checkpoint = save_and_record


def main() -> None:
    directory, tool, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    record_params_on_save(os.path.abspath(directory))
    if tool == "train":
        from fairseq_cli.train import cli_main
    else:
        from fairseq_cli.hydra_train import cli_main
    sys.argv = [f"fairseq-{tool}", *args]
    cli_main()


if __name__ == "__main__":
    main()

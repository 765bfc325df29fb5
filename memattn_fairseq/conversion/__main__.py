"""Convert a fairseq softmax transformer checkpoint into a bounded-memory model, optionally with attention transfer.

    python -m memattn_fairseq.conversion teacher.pt abc.pt --to abc_lm --abc-slots 64
    python -m memattn_fairseq.conversion teacher.pt memsizer.pt --to memsizer_lm --transfer-updates 100
    python -m memattn_fairseq.conversion mt.pt abc_mt.pt --to abc_transformer --abc-roles decoder,cross

The architecture is the source's; ``--to NAME --help`` lists the options of NAME's family (slots, control, roles).
Every shared tensor is copied (conversion/weights.py); with --transfer-updates N the converted attention first
learns to imitate the softmax attention on training text (conversion/transfer.py; resumable: run the same command
again). The result is a fairseq checkpoint at update 0: finetune it with ``fairseq-train --finetune-from-model OUT``
and the source's model flags under the new --arch, or load it in any fairseq tool.
"""
import argparse
import os
import sys
from dataclasses import fields

import torch
from fairseq.dataclass.utils import gen_parser_from_dataclass

from ..errors import check
from .checkpoint import kind_of, read_source, setup_task, target_config, targets, write_target
from .transfer import TransferSettings, transfer
from .weights import convert_weights


def parse_args(argv=None) -> argparse.Namespace:
    argv = sys.argv[1:] if argv is None else argv
    names = targets()
    peek = argparse.ArgumentParser(add_help=False)
    peek.add_argument("--to", choices=sorted(names))
    target = peek.parse_known_args(argv)[0].to
    parser = argparse.ArgumentParser(prog="python -m memattn_fairseq.conversion", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="fairseq checkpoint of a transformer_lm (LM) or transformer (translation)")
    parser.add_argument("output", help="where to write the converted checkpoint")
    parser.add_argument("--to", required=True, choices=sorted(names), help="the bounded model to convert into")
    parser.add_argument("--data", help="binarised data with the source's dictionaries (and training text for "
                                       "the transfer); default: where the source was trained")
    parser.add_argument("--seed", type=int, default=1, help="seed of the new parameters and of the data order")
    parser.add_argument("--cpu", action="store_true", help="run the transfer on the CPU even if a GPU is there")
    transfer_group = parser.add_argument_group("attention transfer")
    transfer_group.add_argument("--transfer-updates", type=int, default=0,
                                help="updates of attention transfer before writing (default 0: none)")
    transfer_group.add_argument("--transfer-lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    transfer_group.add_argument("--transfer-max-tokens", type=int, default=4096, help="tokens per batch")
    transfer_group.add_argument("--transfer-save-interval", type=int, default=50,
                                help="updates between saves of the resumable state OUT.transfer")
    if target:
        gen_parser_from_dataclass(parser.add_argument_group(f"{target} options"), names[target].options_dataclass())
    args = parser.parse_args(argv)
    args.options = {f.name: getattr(args, f.name) for f in fields(names[target].options_dataclass)
                    if f.name != "_name"}
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    check(args.transfer_updates >= 0, f"--transfer-updates must be >= 0, got {args.transfer_updates}")
    check(args.transfer_save_interval >= 1, f"--transfer-save-interval must be >= 1, got {args.transfer_save_interval}")
    check(os.path.abspath(args.output) != os.path.abspath(args.source), "the output must not overwrite the source")
    source = read_source(args.source, args.to)
    task = setup_task(source, args.data)
    config = target_config(source, args.to, args.options)
    torch.manual_seed(args.seed)
    student = task.build_model(config)
    conversion = convert_weights(source.state["model"], student)
    student.load_state_dict(conversion.state)
    record = {"source": os.path.abspath(args.source), "to": args.to, "copied": len(conversion.copied),
              "initialised": conversion.initialised, "dropped": len(conversion.dropped)}
    state_path = args.output + ".transfer"
    if args.transfer_updates:
        teacher = task.build_model(source.model_config)
        teacher.load_state_dict(source.state["model"])
        settings = TransferSettings(args.transfer_updates, args.transfer_lr, args.transfer_max_tokens, args.seed,
                                    args.transfer_save_interval)
        device = "cuda" if torch.cuda.is_available() and not args.cpu else "cpu"
        record.update(transfer(task, teacher, student, settings, state_path, device))
    write_target(args.output, source, config, student.state_dict(), record)
    if os.path.exists(state_path):
        os.remove(state_path)
    print(f"{args.output}: {args.to} ({kind_of(args.to)}) from {args.source}; {conversion.summary()}"
          + (f"; imitation loss {record['imitation_loss_first']:.4f} -> {record['imitation_loss_last']:.4f}"
             if args.transfer_updates else ""))


if __name__ == "__main__":
    main()

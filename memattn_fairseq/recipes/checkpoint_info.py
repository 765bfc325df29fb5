"""What a checkpoint's saved config says about its model, without building the model: fairseq task, arch, training
block length, updates, and the attention memory (ABC slots and control per role, MemSizer's k per role, Memformer's
slots and segment length; softmax attention keeps a KV cache that grows with the length).

    python -m memattn_fairseq.recipes.checkpoint_info CKPT --get task tokens_per_sample
    python -m memattn_fairseq.recipes.checkpoint_info CKPT          # everything, as JSON
"""
import argparse
import json
from typing import Dict

from ..options.roles import ROLES
from .average_checkpoints import load_checkpoint, num_updates


def _as_dict(section) -> Dict:
    if section is None:
        return {}
    return dict(section) if isinstance(section, dict) else dict(vars(section))


def saved_config(state: dict) -> Dict[str, Dict]:
    """{"model": {...}, "task": {...}} from a checkpoint's cfg (dataclass models) or args (argparse models)."""
    cfg = state.get("cfg")
    if cfg:
        return {"model": _as_dict(cfg.get("model")), "task": _as_dict(cfg.get("task"))}
    args = _as_dict(state.get("args"))  # checkpoints of fairseq < 0.10 keep one flat namespace
    return {"model": args, "task": dict(args, _name=args.get("task"))}


def _roles(model: Dict, prefix: str, default: str):
    return [r.strip() for r in str(model.get(f"{prefix}_roles") or default).split(",") if r.strip() in ROLES]


def memory(model: Dict) -> Dict:
    """The model's attention memory, from its config: an LM's slots (and control), or a translation model's per
    role (encoder, decoder, cross)."""
    if "memformer_slots" in model:
        return {"kind": "memformer", "slots": model["memformer_slots"],
                "segment_length": model.get("memformer_segment_length")}
    if "abc_slots" in model:
        return {"kind": "abc", "slots": model["abc_slots"], "control": str(model["abc_control"])}
    if "abc_roles" in model:
        return {"kind": "abc", "roles": {r: {"slots": model[f"abc_{r}_slots"],
                                             "control": str(model[f"abc_{r}_control"])}
                                         for r in _roles(model, "abc", "encoder,decoder,cross")}}
    if "memsizer_slots" in model:
        return {"kind": "memsizer", "slots": model["memsizer_slots"]}
    if "memsizer_roles" in model:
        return {"kind": "memsizer", "roles": {r: {"slots": model[f"memsizer_{r}_slots"]}
                                              for r in _roles(model, "memsizer", "decoder,cross")}}
    return {"kind": "softmax"}


SHORT_ROLE = {"encoder": "enc", "decoder": "dec", "cross": "cross"}


def memory_label(mem: Dict) -> str:
    """Short text for tables: 'n=64 (mlp)', 'enc n=64, dec n=64, cross n=32 (mlp)', 'k=32', 'dec k=4, cross k=32',
    'K=1024, 64-token segments', 'KV cache (grows with length)'."""
    kind = mem.get("kind")
    if kind == "memformer":
        return f"K={mem['slots']}, {mem['segment_length']}-token segments"
    if kind not in ("abc", "memsizer"):
        return "KV cache (grows with length)"
    letter = "n" if kind == "abc" else "k"
    if "roles" in mem:
        text = ", ".join(f"{SHORT_ROLE[r]} {letter}={spec['slots']}" for r, spec in mem["roles"].items())
        controls = sorted({spec["control"] for spec in mem["roles"].values() if "control" in spec})
    else:
        text, controls = f"{letter}={mem['slots']}", [mem["control"]] if "control" in mem else []
    return text + (f" ({'/'.join(controls)})" if controls else "")


def describe(path: str) -> Dict:
    state = load_checkpoint(path)
    config = saved_config(state)
    model, task = config["model"], config["task"]
    mem = memory(model)
    return {
        "task": task.get("_name") or "language_modeling",
        "arch": model.get("arch") or model.get("_name"),
        "tokens_per_sample": task.get("tokens_per_sample"),
        "segment_length": mem.get("segment_length"),
        "num_updates": num_updates(state),
        "memory": mem,
        "memory_label": memory_label(mem),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--get", nargs="+", metavar="FIELD",
                        help="print only these fields, space-separated (task arch tokens_per_sample segment_length "
                             "num_updates memory_label)")
    args = parser.parse_args(argv)
    info = describe(args.checkpoint)
    if args.get:
        unknown = [f for f in args.get if f not in info]
        if unknown:
            parser.error(f"--get: unknown field {unknown[0]}; choose from {', '.join(info)}")
        print(" ".join(str(info[f]) for f in args.get))
    else:
        print(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()

"""The models every tool knows: the benchmark, the quickstart, the quality study and the paper recipes read this
list, so an entry here is all a model needs to be trained, measured and compared by each of them.

An entry is one named configuration of a registered fairseq architecture: its ``--task``, ``--arch`` and plugin
options (model fields, fairseq's underscore names). ``memory_options`` are the options that hold its memory size
(slots), which the benchmark and the study's sweeps set; the entry's own values are its default size.

Standard library only: the training scripts read it before fairseq is imported.

    python memattn_fairseq/model_list.py names lm                    # transformer abc_mlp ... (one line)
    python memattn_fairseq/model_list.py flags abc_mlp [--slots 32]    # --task ... --arch abc_lm ... --abc-slots 32
    python memattn_fairseq/model_list.py eval-flags memformer          # --task memformer_lm --batch-size 1
"""
import argparse
import sys
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Tuple


@dataclass(frozen=True)
class Model:
    name: str  # what every tool calls it: table columns, --models lists, experiment names
    kind: str  # "lm" (decoder-only) or "mt" (encoder-decoder translation)
    arch: str
    task: str
    label: str
    options: Dict[str, object] = field(default_factory=dict)
    memory_options: Tuple[str, ...] = ()
    baseline: bool = False  # fairseq's softmax transformer: the reference of every ratio
    stream: bool = False  # trained and scored as contiguous streams with a carried memory (one row per stream)

    def with_slots(self, slots: Optional[int]) -> "Model":
        """The same model with every memory option set to ``slots`` (None: unchanged)."""
        if slots is None or not self.memory_options:
            return self
        return replace(self, options={**self.options, **{name: slots for name in self.memory_options}})

    def eval_flags(self) -> List[str]:
        """What fairseq-eval-lm needs beyond the checkpoint: the task (a stream model scores one stream per row)."""
        return ["--task", self.task] + (["--batch-size", "1"] if self.stream else [])

    def with_options(self, **options) -> "Model":
        return replace(self, options={**self.options, **options})

    def flags(self) -> List[str]:
        """fairseq command-line flags: ``--task``, ``--arch`` and every option (booleans as bare switches)."""
        flags = ["--task", self.task, "--arch", self.arch]
        for name, value in self.options.items():
            flag = "--" + name.replace("_", "-")
            if value is True:
                flags.append(flag)
            elif value is not False:
                flags += [flag, str(value)]
        return flags


def _abc_lm(control: str) -> Model:
    return Model(f"abc_{control}", "lm", "abc_lm", "language_modeling", f"ABC ({control} control)",
                 dict(abc_control=control, abc_slots=64), ("abc_slots",))


MODELS: Tuple[Model, ...] = (
    # pre-norm, as the plugin LMs and fairseq's LM presets (plain --arch transformer_lm is post-norm)
    Model("transformer", "lm", "transformer_lm", "language_modeling", "fairseq transformer_lm (softmax, pre-norm)",
          dict(decoder_normalize_before=True), baseline=True),
    _abc_lm("mlp"),
    _abc_lm("linformer"),
    _abc_lm("window"),
    Model("memsizer", "lm", "memsizer_lm", "language_modeling", "MemSizer", dict(memsizer_slots=32),
          ("memsizer_slots",)),
    Model("memformer", "lm", "memformer_lm", "memformer_lm", "Memformer",
          dict(memformer_slots=64, memformer_segment_length=64, encoder_layers=1), ("memformer_slots",), stream=True),
    Model("linear", "lm", "linear_lm", "language_modeling", "causal linear attention"),
    Model("transformer", "mt", "transformer", "translation", "fairseq transformer (softmax)", baseline=True),
    Model("abc", "mt", "abc_transformer", "translation", "ABC (decoder + cross)",
          dict(abc_roles="decoder,cross", abc_decoder_slots=64, abc_cross_slots=32),
          ("abc_encoder_slots", "abc_decoder_slots", "abc_cross_slots")),
    Model("memsizer", "mt", "memsizer_transformer", "translation", "MemSizer (decoder + cross)",
          dict(memsizer_roles="decoder,cross", memsizer_decoder_slots=32, memsizer_cross_slots=32),
          ("memsizer_encoder_slots", "memsizer_decoder_slots", "memsizer_cross_slots")),
    Model("linear", "mt", "linear_transformer", "translation", "linear attention (decoder + cross)",
          dict(linear_roles="decoder,cross")),
)


def models(kind: str) -> List[Model]:
    """The entries of ``kind`` ("lm" or "mt"), the softmax baseline first."""
    return [m for m in MODELS if m.kind == kind]


def get(kind: str, name: str) -> Model:
    found = {m.name: m for m in models(kind)}
    if name not in found:
        raise KeyError(f"unknown {kind} model {name!r}; choose from {', '.join(found)}")
    return found[name]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="model_list.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    names = commands.add_parser("names", help="the model names of a kind, on one line")
    names.add_argument("kind", choices=("lm", "mt"))
    flags = commands.add_parser("flags", help="a model's fairseq flags, on one line")
    flags.add_argument("name")
    flags.add_argument("--kind", choices=("lm", "mt"), default="lm")
    flags.add_argument("--slots", type=int, help="memory size (default: the entry's)")
    eval_flags = commands.add_parser("eval-flags", help="what fairseq-eval-lm needs for a model, on one line")
    eval_flags.add_argument("name")
    args = parser.parse_args(argv)
    try:
        if args.command == "names":
            print(" ".join(m.name for m in models(args.kind)))
        elif args.command == "flags":
            print(" ".join(get(args.kind, args.name).with_slots(args.slots).flags()))
        else:
            print(" ".join(get("lm", args.name).eval_flags()))
    except KeyError as error:
        parser.error(error.args[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The models the quality study compares, and the sweeps that group them.

A variant is one model: its fairseq task and architecture flags, beyond the shared size and budget of
budgets.py. A sweep is a list of (variant, context) pairs; a run is one pair with one seed, trained once however
many sweeps name it. Every sweep holds its softmax baseline so each table gives ratios within one study.
"""
from dataclasses import dataclass
from typing import Dict, List, Tuple


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    flags: Tuple[str, ...]
    baseline: bool = False  # fairseq's own softmax transformer: the reference of every ratio


def _abc_lm(control: str, slots: int) -> Variant:
    return Variant(f"abc_{control}{slots}", f"ABC {control}, n={slots}",
                   ("--task", "language_modeling", "--arch", "abc_lm", "--abc-control", control,
                    "--abc-slots", str(slots)))


def _memsizer_lm(slots: int) -> Variant:
    return Variant(f"memsizer{slots}", f"MemSizer, k={slots}",
                   ("--task", "language_modeling", "--arch", "memsizer_lm", "--memsizer-slots", str(slots)))


def _memformer(memory: bool) -> Variant:
    flags = ("--task", "memformer_lm", "--arch", "memformer_lm", "--encoder-layers", "1", "--memformer-slots", "64",
             "--memformer-segment-length", "64", "--share-decoder-input-output-embed")
    if memory:
        return Variant("memformer", "Memformer (K=64, L=64, 1 encoder layer)", flags)
    return Variant("memformer_nomem", "Memformer w/o memory", flags + ("--memformer-no-memory",))


def _abc_mt(roles: str, decoder_control: str = "mlp") -> Variant:
    name = f"abc_{decoder_control}_{roles.replace(',', '_')}"
    return Variant(name, f"ABC ({roles}; decoder {decoder_control} n=64, cross n=32, encoder n=64)",
                   ("--arch", "abc_transformer", "--abc-roles", roles, "--abc-decoder-control", decoder_control,
                    "--abc-decoder-slots", "64", "--abc-cross-slots", "32", "--abc-encoder-slots", "64"))


def _memsizer_mt(roles: str) -> Variant:
    return Variant(f"memsizer_{roles.replace(',', '_')}", f"MemSizer ({roles}; k=32)",
                   ("--arch", "memsizer_transformer", "--memsizer-roles", roles, "--memsizer-decoder-slots", "32",
                    "--memsizer-cross-slots", "32", "--memsizer-encoder-slots", "32"))


LM_TRANSFORMER = Variant("transformer", "fairseq transformer_lm (softmax)",
                         ("--task", "language_modeling", "--arch", "transformer_lm"), baseline=True)
MT_TRANSFORMER = Variant("transformer", "fairseq transformer (softmax)", ("--arch", "transformer"), baseline=True)

LM_VARIANTS = {v.name: v for v in (
    LM_TRANSFORMER, *(_abc_lm("mlp", n) for n in (8, 16, 32, 64, 128)), _abc_lm("linformer", 64),
    _abc_lm("window", 64), _abc_lm("window", 128), *(_memsizer_lm(k) for k in (4, 8, 16, 32, 64)),
    _memformer(True), _memformer(False))}
MT_VARIANTS = {v.name: v for v in (
    MT_TRANSFORMER, _abc_mt("decoder,cross"), _abc_mt("decoder,cross", "window"), _abc_mt("decoder"),
    _abc_mt("encoder,decoder,cross"), _memsizer_mt("decoder,cross"), _memsizer_mt("decoder"),
    _memsizer_mt("encoder,decoder,cross"))}


def _at(context: int, *names: str) -> List[Tuple[str, int]]:
    return [(name, context) for name in names]


LM_SWEEPS: Dict[str, List[Tuple[str, int]]] = {
    "core": _at(512, "transformer", "abc_mlp64", "abc_window64", "memsizer32", "memformer"),
    "abc_slots": _at(512, "transformer", "abc_mlp8", "abc_mlp16", "abc_mlp32", "abc_mlp64", "abc_mlp128"),
    "memsizer_slots": _at(512, "transformer", "memsizer4", "memsizer8", "memsizer16", "memsizer32", "memsizer64"),
    "controls": _at(512, "transformer", "abc_mlp64", "abc_linformer64", "abc_window64", "abc_window128"),
    "context": [pair for c in (128, 512, 1024) for pair in _at(c, "transformer", "abc_mlp64", "memsizer32")],
    "memformer_memory": _at(512, "transformer", "memformer", "memformer_nomem"),
}
MT_SWEEPS: Dict[str, List[Tuple[str, int]]] = {
    "core": _at(0, "transformer", "abc_mlp_decoder_cross", "abc_window_decoder_cross", "memsizer_decoder_cross"),
    "roles": _at(0, "transformer", "abc_mlp_decoder", "abc_mlp_decoder_cross", "abc_mlp_encoder_decoder_cross",
                 "memsizer_decoder", "memsizer_decoder_cross", "memsizer_encoder_decoder_cross"),
}
VARIANTS = {"lm": LM_VARIANTS, "mt": MT_VARIANTS}
SWEEPS = {"lm": LM_SWEEPS, "mt": MT_SWEEPS}

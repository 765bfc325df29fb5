"""The models the quality study compares, and the sweeps that group them.

A variant is one model of ``model_list.py`` at one memory size (its fairseq task, architecture and option flags),
beyond the shared size and budget of budgets.py. Its name is the list's name, followed by the memory size where a
sweep sets one (``abc_mlp64``). A sweep is a list of (variant, context) pairs; a run is one pair with one seed,
trained once however many sweeps name it. Every sweep holds its softmax baseline so each table gives ratios within
one study; the ``families`` sweep holds every model of the list at its own default size.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from .. import model_list


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    flags: Tuple[str, ...]
    baseline: bool = False  # fairseq's own softmax transformer: the reference of every ratio


def variant(kind: str, name: str, slots: Optional[int] = None, rename: str = "", label: str = "",
            **options) -> Variant:
    """The list's model ``name`` at ``slots`` (None: its default), with extra ``options``; ``rename`` names it."""
    entry = model_list.get(kind, name).with_slots(slots).with_options(**options)
    size = "k" if entry.arch.startswith("memsizer") else "n"  # each paper's letter for its memory size
    return Variant(rename or f"{name}{slots or ''}", label or entry.label + (f", {size}={slots}" if slots else ""),
                   tuple(entry.flags()), entry.baseline)


def _roles(roles: str) -> str:
    return roles.replace(",", "_")


def _abc_mt(roles: str, decoder_control: str = "mlp", cross_control: str = "mlp", suffix: str = "", note: str = "",
            **options) -> Variant:
    cross = "" if cross_control == "mlp" else f" {cross_control}"
    return variant("mt", "abc", rename=f"abc_{decoder_control}_{_roles(roles)}{suffix}",
                   label=f"ABC ({roles}; decoder {decoder_control} n=64, cross{cross} n=32, encoder n=64{note})",
                   abc_roles=roles, abc_decoder_control=decoder_control, abc_cross_control=cross_control,
                   abc_decoder_slots=64, abc_cross_slots=32, abc_encoder_slots=64, **options)


def _memsizer_mt(roles: str, suffix: str = "", note: str = "", **options) -> Variant:
    return variant("mt", "memsizer", rename=f"memsizer_{_roles(roles)}{suffix}", label=f"MemSizer ({roles}; k=32{note})",
                   memsizer_roles=roles, memsizer_decoder_slots=32, memsizer_cross_slots=32, memsizer_encoder_slots=32,
                   **options)


def _by_name(*variants: Variant) -> Dict[str, Variant]:
    return {v.name: v for v in variants}


LM_VARIANTS = _by_name(
    *(variant("lm", m.name) for m in model_list.models("lm")),
    *(variant("lm", "abc_mlp", n) for n in (8, 16, 32, 64, 128)), variant("lm", "abc_linformer", 64),
    variant("lm", "abc_window", 64), variant("lm", "abc_window", 128),
    *(variant("lm", "memsizer", k) for k in (4, 8, 16, 32, 64)),
    variant("lm", "memsizer", 32, rename="memsizer32_init8", label="MemSizer, k=32, init scales 8 / 8",
            memsizer_q_init_scale=8.0, memsizer_kv_init_scale=8.0),
    variant("lm", "memsizer", 32, rename="memsizer32_outproj", label="MemSizer, k=32, with an output projection",
            memsizer_output_projection=True),
    variant("lm", "memsizer", 32, rename="memsizer32_perhead", label="MemSizer, k=32, a read per head",
            memsizer_per_head_read=True),
    variant("lm", "memformer", rename="memformer_nomem", label="Memformer w/o memory", memformer_no_memory=True),
    variant("lm", "memformer", rename="memformer_seg512", label="Memformer, 512-token segments",
            memformer_segment_length=512),
    variant("lm", "transformer", rename="transformer_postnorm", label="fairseq transformer_lm (softmax, post-norm)",
            decoder_normalize_before=False),
    variant("lm", "abc_mlp", 64, rename="abc_mlp64_postnorm", label="ABC (mlp control), n=64, post-norm",
            decoder_post_norm=True))
MT_VARIANTS = _by_name(
    *(variant("mt", m.name) for m in model_list.models("mt")),
    _abc_mt("decoder,cross"), _abc_mt("decoder,cross", "window"), _abc_mt("decoder"), _abc_mt("encoder,decoder,cross"),
    _memsizer_mt("decoder,cross"), _memsizer_mt("decoder"), _memsizer_mt("encoder,decoder,cross"),
    _abc_mt("decoder,cross", cross_control="linformer", suffix="_linformer"),
    _abc_mt("decoder,cross", suffix="_gain4", note="; control init gain 4 x 2^-1/2", abc_control_init_gain=4 * 2 ** -0.5),
    _memsizer_mt("decoder,cross", suffix="_outproj", note="; with an output projection",
                 memsizer_output_projection=True))


def _at(context: int, *names: str) -> List[Tuple[str, int]]:
    return [(name, context) for name in names]


LM_SWEEPS: Dict[str, List[Tuple[str, int]]] = {
    "core": _at(512, "transformer", "abc_mlp64", "abc_window64", "memsizer32", "memformer"),
    "families": _at(512, *(m.name for m in model_list.models("lm"))),
    "abc_slots": _at(512, "transformer", "abc_mlp8", "abc_mlp16", "abc_mlp32", "abc_mlp64", "abc_mlp128"),
    "memsizer_slots": _at(512, "transformer", "memsizer4", "memsizer8", "memsizer16", "memsizer32", "memsizer64"),
    "controls": _at(512, "transformer", "abc_mlp64", "abc_linformer64", "abc_window64", "abc_window128"),
    "context": [pair for c in (128, 512, 1024) for pair in _at(c, "transformer", "abc_mlp64", "memsizer32")],
    "memformer_memory": _at(512, "transformer", "memformer", "memformer_nomem"),
    # a token attends within its segment and the previous one: 64-token segments against the transformer's 512
    "memformer_segment": _at(512, "transformer", "memformer", "memformer_seg512"),
    # the official code's init scales: 32 / 1 (its WikiText-103 recipe: the LM default) against 8 / 8 (its MT default)
    "memsizer_init": _at(512, "transformer", "memsizer32", "memsizer32_init8"),
    # MemSizer has no output projection (the paper, the official code); a softmax layer mixes its heads with one
    "memsizer_outproj": _at(512, "transformer", "memsizer32", "memsizer32_outproj"),
    # MemSizer averages its heads' slot distributions into one read; here each head reads its own value columns
    "memsizer_perhead": _at(512, "transformer", "memsizer32", "memsizer32_perhead"),
    # the same comparison in fairseq's plain transformer_lm layout (post-norm) as in the plugin's (pre-norm)
    "layout": _at(512, "transformer", "abc_mlp64", "transformer_postnorm", "abc_mlp64_postnorm"),
}
MT_SWEEPS: Dict[str, List[Tuple[str, int]]] = {
    "core": _at(0, "transformer", "abc_mlp_decoder_cross", "abc_window_decoder_cross", "memsizer_decoder_cross"),
    "families": _at(0, *(m.name for m in model_list.models("mt"))),
    "roles": _at(0, "transformer", "abc_mlp_decoder", "abc_mlp_decoder_cross", "abc_mlp_encoder_decoder_cross",
                 "memsizer_decoder", "memsizer_decoder_cross", "memsizer_encoder_decoder_cross"),
    # what the bounded cross-attention needs: positional slots, more peaked initial slots, a head-mixing projection
    "cross": _at(0, "transformer", "abc_mlp_decoder_cross", "abc_mlp_decoder_cross_linformer",
                 "abc_mlp_decoder_cross_gain4", "memsizer_decoder_cross", "memsizer_decoder_cross_outproj"),
}
VARIANTS = {"lm": LM_VARIANTS, "mt": MT_VARIANTS}
SWEEPS = {"lm": LM_SWEEPS, "mt": MT_SWEEPS}

"""The one table from module parameters to command-line flags.

Modules and the math check their own parameters and name them (``num_slots must be >= 1``); the builders of
``options/`` construct them inside :func:`~memattn_fairseq.errors.flags_named` with the names below, so the same
check reads ``--abc-cross-slots must be >= 1`` to a fairseq user. A check is written once, in the module.
"""
from typing import Dict

PER_ROLE = ("num_slots", "control")  # options given per role in translation models (--abc-cross-slots, ...)
RENAMED = {"num_slots": "slots", "max_positions": "linformer-max-len"}


def attention_flags(family: str, role: str, per_role: bool) -> Dict[str, str]:
    """Flags of a ``family`` attention module in ``role``; ``per_role``: the model has per-role options (translation
    models) rather than one set (language models)."""
    flags = {"num_heads": f"--{'encoder' if role == 'encoder' else 'decoder'}-attention-heads"}
    for parameter in ("num_slots", "control", "chunk_size", "max_positions", "q_init_scale", "kv_init_scale",
                      "control_init_gain"):
        name = RENAMED.get(parameter, parameter.replace("_", "-"))
        scope = f"{family}-{role}" if per_role and parameter in PER_ROLE else family
        flags[parameter] = f"--{scope}-{name}"
    return flags


MEMFORMER_FLAGS = {
    "segment_length": "--memformer-segment-length",
    "num_slots": "--memformer-slots",
    "num_heads": "--memformer-write-heads",
    "temperature": "--memformer-write-temperature",
    "norm": "--memformer-memory-norm",
    "self_value": "--memformer-self-value",
}

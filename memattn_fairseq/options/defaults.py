"""Plugin option defaults for configs that lack them.

A preset registered with ``register_model_architecture`` runs on whatever config it is given: under fairseq-train
argparse has already filled every plugin flag, but fairseq's legacy path (``fairseq.models.build_model(args, task)``
with an ``argparse.Namespace``) and Hydra YAML that names only some fields have not, so each preset fills them.
"""
from dataclasses import MISSING, fields


def fill_option_defaults(args, options_dataclass) -> None:
    """Give ``args`` every option of ``options_dataclass`` it lacks (or holds as None), at its default."""
    for fld in fields(options_dataclass):
        if fld.name != "_name" and getattr(args, fld.name, None) is None and fld.default is not MISSING:
            setattr(args, fld.name, fld.default)

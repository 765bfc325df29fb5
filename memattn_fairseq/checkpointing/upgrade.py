"""Plugin options whose stored form has changed, upgraded as a checkpoint is read (as fairseq upgrades its own).

- ``abc_linformer_max_len``: 0 once meant "the role's maximum positions"; that is now None, and 0 is refused.
"""

from fairseq import checkpoint_utils
from omegaconf import OmegaConf, open_dict

from ..fairseq_patch import wrap_once


def _model_configs(state: dict):
    cfg = state.get("cfg")
    if cfg is not None and cfg.get("model") is not None:
        yield cfg["model"]
    if state.get("args") is not None:  # checkpoints of argparse-only fairseq keep one flat namespace
        yield state["args"]


def upgrade_plugin_options(state: dict) -> dict:
    for model in _model_configs(state):
        if getattr(model, "abc_linformer_max_len", None) == 0:
            if OmegaConf.is_config(model):
                with open_dict(model):
                    model.abc_linformer_max_len = None
            else:
                model.abc_linformer_max_len = None
    return state


def upgrade_plugin_checkpoints() -> None:
    @wrap_once(checkpoint_utils, "load_checkpoint_to_cpu", "upgrades_plugin_options")
    def wrap(original):
        def load_checkpoint_to_cpu(path, arg_overrides=None, load_on_all_ranks=False):
            return upgrade_plugin_options(original(path, arg_overrides, load_on_all_ranks))
        return load_checkpoint_to_cpu

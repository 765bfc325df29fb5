"""fairseq-hydra-train: the same one-line errors as the command line, and the plugin found from any directory.

fairseq-hydra-train imports ``common.user_dir`` only inside its job, which Hydra runs within its own error report:
a ConfigError would print as a traceback. The shipped configs name :class:`PluginCallback` under
``hydra.callbacks``, so Hydra imports the plugin before the job starts, and the plugin wraps fairseq's job function:

- a ConfigError prints as the command line prints it, ``memattn_fairseq: error: ...``, with exit status 2;
- a relative ``common.user_dir`` that does not exist from the working directory but names this plugin (the configs
  say ``memattn_fairseq``) is this installed plugin; any other directory that fairseq would not find is a one-line
  error saying how to name it.
"""
import logging
import os
import sys

import fairseq
from hydra.experimental.callback import Callback
from omegaconf import OmegaConf, open_dict

from .errors import ConfigError, exit_with, root_config_error

logger = logging.getLogger(__name__)
PLUGIN_DIR = os.path.dirname(os.path.abspath(__file__))


class PluginCallback(Callback):
    """Named in the shipped configs (``hydra.callbacks``): Hydra instantiating it imports the plugin early."""


def _found_by_fairseq(user_dir: str) -> bool:
    """fairseq's own search: the path as given, then relative to the fairseq package."""
    package = os.path.dirname(os.path.abspath(fairseq.__file__))
    return any(os.path.exists(p) for p in (os.path.abspath(user_dir), os.path.join(package, user_dir),
                                           os.path.join(package, "..", user_dir)))


def find_plugin(cfg) -> None:
    user_dir = OmegaConf.select(cfg, "common.user_dir")
    if not user_dir or _found_by_fairseq(user_dir):
        return
    if os.path.basename(os.path.normpath(user_dir)) != os.path.basename(PLUGIN_DIR):
        raise ConfigError(f"common.user_dir={user_dir} does not exist from the working directory {os.getcwd()}; "
                          f"give it as an absolute path")
    logger.info(f"common.user_dir={user_dir} is not under {os.getcwd()}: using the installed plugin {PLUGIN_DIR}")
    with open_dict(cfg):
        cfg.common.user_dir = PLUGIN_DIR


def one_line_errors_under_hydra() -> None:
    module = sys.modules.get("fairseq_cli.hydra_train")  # loaded only when fairseq-hydra-train runs
    if module is None or getattr(module._hydra_main, "reports_one_line", False):
        return
    original = module._hydra_main

    def _hydra_main(cfg, **kwargs):
        try:
            find_plugin(cfg)
            return original(cfg, **kwargs)
        except Exception as exc:
            error = root_config_error(exc)
            if error is None:
                raise
            exit_with(error)  # SystemExit passes Hydra's report, which catches Exception only

    _hydra_main.reports_one_line = True
    module._hydra_main = _hydra_main

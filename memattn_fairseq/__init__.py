"""memattn_fairseq: bounded-memory attention (ABC, MemSizer, Memformer) for fairseq.

Use with any fairseq command: ``--user-dir <path>/memattn_fairseq``. Importing the package registers every model,
architecture and task, lets torch >= 2.6 load fairseq checkpoints, lets ``--bf16`` and ``--fp16`` run where fairseq
expects a TPU or GPU, writes checkpoints atomically and resumes from the newest complete one, keeps generation within
the model's maximum positions, and makes configuration and input errors print as one line.
"""
import importlib
import pkgutil

from . import checkpointing
from .compat import allow_fairseq_checkpoints
from .errors import ConfigError, install_excepthook
from .generation_limits import generation_within_limits
from .hydra_support import one_line_errors_under_hydra
from .input_errors import one_line_input_errors
from .precision_compat import half_precision_anywhere

allow_fairseq_checkpoints()
half_precision_anywhere()
install_excepthook()
checkpointing.install()
one_line_input_errors()
generation_within_limits()
one_line_errors_under_hydra()


def _import_registrations():
    """Import every module of models/ and tasks/ (fairseq does the same for --user-dir; tests import directly)."""
    for package in ("models", "tasks"):
        path = [__path__[0] + "/" + package]
        for info in pkgutil.iter_modules(path):
            if not info.name.startswith("_"):
                importlib.import_module(f"{__name__}.{package}.{info.name}")


_import_registrations()

__all__ = ["ConfigError"]

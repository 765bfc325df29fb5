"""memattn_fairseq: bounded-memory attention (ABC, MemSizer, Memformer) for fairseq.

Use with any fairseq command: ``--user-dir <path>/memattn_fairseq``. Importing the package registers every model,
architecture and task, lets torch >= 2.6 load fairseq checkpoints, and makes configuration errors print as one line.
"""
from .compat import allow_fairseq_checkpoints
from .errors import ConfigError, install_excepthook

allow_fairseq_checkpoints()
install_excepthook()

from . import models, tasks  # noqa: E402
from .models import abc_lm, abc_transformer  # noqa: E402,F401

__all__ = ["ConfigError"]

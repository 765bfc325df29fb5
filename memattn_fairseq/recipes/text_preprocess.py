"""Run ``fairseq-preprocess`` (the binariser every fairseq recipe ends with) from this environment."""
import logging
import shutil
import subprocess
import sys
from pathlib import Path

from ..errors import ConfigError

log = logging.getLogger(__name__)


def fairseq_tool(name: str) -> str:
    """The path of a fairseq console script (``fairseq-train``, ...) of this environment: the venv's, even when it
    is not on PATH."""
    local = Path(sys.executable).with_name(name)
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        raise ConfigError(f"{name} not found: install fairseq (bash scripts/setup_env.sh)")
    return found


def fairseq_preprocess(*args) -> None:
    """``fairseq-preprocess ARGS``; its log streams through, a failure ends in a one-line error."""
    command = [fairseq_tool("fairseq-preprocess"), *map(str, args)]
    log.info("running %s", " ".join(command))
    result = subprocess.run(command)
    if result.returncode != 0:
        raise ConfigError(f"fairseq-preprocess failed with exit status {result.returncode} (its log is above)")

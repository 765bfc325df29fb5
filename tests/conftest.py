import os
import sys
import warnings

import pytest
import torch

sys.path.insert(0, os.path.dirname(__file__))  # the shared helpers: harness.py, builders.py, cli_runner.py
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=UserWarning)

import memattn_fairseq  # noqa: E402,F401  (registers the models)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(42)

#!/usr/bin/env python
"""Average fairseq checkpoints, with the command line of fairseq's scripts/average_checkpoints.py:

    python scripts/average_checkpoints.py --inputs CKPT_DIR --num-epoch-checkpoints 10 --output checkpoint.avg10.pt
    python scripts/average_checkpoints.py --inputs CKPT_DIR --num-update-checkpoints 5 --output avg.pt
    python scripts/average_checkpoints.py --inputs a.pt b.pt --output avg.pt

The implementation is memattn_fairseq/recipes/average_checkpoints.py (``--help`` for every flag).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository, when not installed

from memattn_fairseq.recipes.average_checkpoints import main  # noqa: E402

if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# Train one WikiText-103 experiment with fairseq-hydra-train (config: configs/wikitext103/MODEL.yaml).
#
#   bash scripts/train_wikitext103.sh MODEL [--smoke] [--data DIR] [--save-dir DIR] [--nproc N] [-- OVERRIDES...]
#
#   MODEL        transformer | abc_mlp | abc_linformer | abc_window | memsizer | memformer: a language model of
#                memattn_fairseq/model_list.py that has a config in configs/wikitext103/
#   --data       binarised WikiText-103 (default data-bin/wikitext-103; smoke: runs/smoke/data-bin/wikitext-103)
#   --save-dir   checkpoints (default checkpoints/wikitext103/MODEL; smoke: runs/smoke/checkpoints/wikitext103/MODEL)
#   --nproc N    train in N CPU processes: fairseq's own distributed training (gloo), one process per rank
#   --smoke      the same config on the CPU with a tiny model and a few updates (data from
#                scripts/prepare_wikitext103.sh --smoke)
#   OVERRIDES    Hydra overrides for the config, e.g. optimization.update_freq=[6] on 4 GPUs (see the config's header)
#
# Without --smoke or --nproc fairseq trains on every visible GPU (one process each); docs/distributed.md shows
# multi-node runs. Relative --data/--save-dir paths are taken from the calling directory; the run itself starts in
# the repository root. Started again with the same arguments, a run resumes from its checkpoint_last.pt.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/_train_experiment.sh" wikitext103 "${BASH_SOURCE[0]}" "$@"

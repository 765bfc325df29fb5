#!/usr/bin/env bash
# Train one WMT EN-DE experiment with fairseq-hydra-train (config: configs/wmt_en_de/MODEL.yaml).
#
#   bash scripts/train_wmt_en_de.sh MODEL [--smoke] [--data DIR] [--save-dir DIR] [--nproc N] [-- OVERRIDES...]
#
#   MODEL        transformer_base | transformer_big | abc_base | abc_big | memsizer_base | memsizer_big: a translation
#                model of memattn_fairseq/model_list.py, at size _base or _big, that has a config here
#   --data       binarised WMT EN-DE (default data-bin/wmt16_en_de; smoke: runs/smoke/data-bin/wmt16_en_de)
#   --save-dir   checkpoints (default checkpoints/wmt_en_de/MODEL; smoke: runs/smoke/checkpoints/wmt_en_de/MODEL)
#   --nproc N    train in N CPU processes: fairseq's own distributed training (gloo), one process per rank
#   --smoke      the same config on the CPU with a tiny model and a few updates (data from
#                scripts/prepare_wmt_en_de.sh --smoke)
#   OVERRIDES    Hydra overrides for the config, e.g. optimization.update_freq=[32] (transformer_big on
#                4 GPUs: see the config's header)
#
# Without --smoke or --nproc fairseq trains on every visible GPU (one process each); docs/distributed.md shows
# multi-node runs. Relative --data/--save-dir paths are taken from the calling directory; the run itself starts in
# the repository root. Started again with the same arguments, a run resumes from its checkpoint_last.pt.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/_train_experiment.sh" wmt_en_de "${BASH_SOURCE[0]}" "$@"

#!/usr/bin/env bash
# Prepare WikiText-103 for fairseq language modelling, as fairseq's examples/language_model recipe does: fetch the
# official word-level wikitext-103-v1.zip from a working mirror (or use the copy in the downloads directory),
# check its published MD5, extract wiki.{train,valid,test}.tokens and binarise them with
# `fairseq-preprocess --only-source` (DEST/dict.txt, DEST/{train,valid,test}.{bin,idx}).
#
#   bash scripts/prepare_wikitext103.sh [--smoke] [--downloads DIR] [--dest DIR] [--workers N] [--mirror URL]
#
#   --smoke          a tiny stand-in archive built from data/pydoc-topics, through the same pipeline
#   --downloads DIR  where the zip is, or goes (default downloads/wikitext-103; smoke: runs/smoke/downloads/...)
#   --dest DIR       output (default data-bin/wikitext-103; smoke: runs/smoke/data-bin/wikitext-103)
#   --workers N      fairseq-preprocess workers (default: CPU count, at most 20)
#   --mirror URL     fetch URL/wikitext-103-v1.zip instead of trying the built-in mirrors
#
# Default paths are relative to the repository root. Offline, put wikitext-103-v1.zip in the downloads directory
# by hand: a failed download says which file and where.
set -euo pipefail
case " $* " in *" --help "* | *" -h "*) sed -n '2,/^set -e/{/^set -e/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;; esac
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup_env.sh" >&2
venv="${MEMATTN_VENV:-$root/.venv}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" PYTHONWARNINGS=ignore
exec "$venv/bin/python" -m memattn_fairseq.recipes.wikitext103 "$@"

#!/usr/bin/env bash
# Prepare WMT EN-DE for fairseq translation with the corpora and cleaning of fairseq's prepare-wmt14en2de.sh:
# Europarl v7, CommonCrawl and News Commentary from statmt.org (published checksums checked), pairs of 1-250
# subword tokens with a length ratio of at most 1.5, one joint sentencepiece BPE model for both languages,
# newstest2013 as dev and the full newstest2014 as test (from statmt's SGM files), binarised with
# `fairseq-preprocess --source-lang en --target-lang de --joined-dictionary`. DEST also gets spm.model and
# raw/{valid,test}.{en,de}, the plain text of the binarised dev and test sets for scoring.
#
#   bash scripts/prepare_wmt_en_de.sh [--smoke] [--downloads DIR] [--dest DIR] [--bpe-size N]
#        [--news-commentary v9|v11|v12] [--spm-sentences N] [--dedup] [--workers N] [--mirror URL]
#
#   --smoke               tiny synthetic stand-ins of the statmt archives, through the same pipeline
#   --downloads DIR       where the archives are, or go (default downloads/wmt_en_de; smoke: runs/smoke/downloads/...)
#   --dest DIR            output (default data-bin/wmt16_en_de; smoke: runs/smoke/data-bin/wmt16_en_de)
#   --bpe-size N          sentencepiece vocabulary (default 32000; smoke: 400)
#   --news-commentary V   v9 (WMT'14), v11 (WMT'16, default) or v12 (WMT'17, fairseq's default)
#   --spm-sentences N     sentences sampled to train sentencepiece (default 2000000; bounds its memory)
#   --dedup               also drop exact duplicate training pairs (fairseq's recipe keeps them)
#   --workers N           fairseq-preprocess workers and encoding threads (default: CPU count, at most 20)
#   --mirror URL          fetch every archive from URL/<file name> instead of the built-in mirrors
#
# Default paths are relative to the repository root. Offline, put the archives in the downloads directory by
# hand: a failed download names the files and the directory. The downloads come to about 1.7 GB.
set -euo pipefail
case " $* " in *" --help "* | *" -h "*) sed -n '2,/^set -e/{/^set -e/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;; esac
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup_env.sh" >&2
venv="${MEMATTN_VENV:-$root/.venv}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" PYTHONWARNINGS=ignore
exec "$venv/bin/python" -m memattn_fairseq.recipes.wmt_en_de "$@"

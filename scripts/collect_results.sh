#!/usr/bin/env bash
# Collect the run records written by scripts/evaluate_lm.sh and scripts/evaluate_mt.sh into markdown tables shaped
# like the papers' (model, memory, params, dev/test perplexity or sacreBLEU and compound-split BLEU, decoding speed,
# decoding-state size), with the published figures beside them and a line saying at which scale and on which
# hardware the measured rows were produced. Prints the tables and writes them to --out.
#
#   bash scripts/collect_results.sh [--results DIR] [--out FILE] [--smoke]
#
#   --results   directory of <task>/<NAME>.json records; default results/ (smoke: runs/smoke/results/)
#   --out       markdown file; default RESULTS/results.md
#   --smoke     the smoke defaults
#
# Default paths are relative to the repository root; paths given on the command line to the current directory.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MEMATTN_VENV:-$root/.venv}"
export PATH="$venv/bin:$PATH" PYTHONWARNINGS="${PYTHONWARNINGS:-ignore}"
prog=collect_results

source "$(dirname "${BASH_SOURCE[0]}")/_cli.sh"  # usage, die, need_value, integer

results="" out="" smoke=0
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --results) need_value "$@"; results="$2"; shift 2 ;;
    --out) need_value "$@"; out="$2"; shift 2 ;;
    --smoke) smoke=1; shift ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
results="${results:-$root/$([ "$smoke" = 1 ] && echo runs/smoke/results || echo results)}"
out="${out:-$results/results.md}"
[ -d "$results" ] \
  || die "--results $results is not a directory (run scripts/evaluate_lm.sh or scripts/evaluate_mt.sh first)"

errors="$(mktemp)"; trap 'rm -f "$errors"' EXIT
python -m memattn_fairseq.recipes.results_table --results "$results" --out "$out" 2>"$errors" \
  || { grep -E 'error' "$errors" | tail -n 1 >&2 || tail -n 3 "$errors" >&2; exit 2; }
echo "[$prog] wrote $out" >&2

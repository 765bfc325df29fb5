#!/usr/bin/env bash
# Evaluate a language-model checkpoint on WikiText-103: fairseq-eval-lm on the valid and test splits, then the
# decoding-state size, written as one JSON record RESULTS/wikitext103/NAME.json (scripts/collect_results.sh tables it).
#
#   bash scripts/evaluate_lm.sh --name NAME [--checkpoint FILE] [--data DIR] [--results DIR] [--smoke]
#        [--tokens-per-sample N] [--context-window C] [--batch-size B] [--state-steps L] [--cpu] [-- EVAL_LM_FLAGS]
#
#   --name              the run's name in tables and the record's file name
#   --checkpoint        default checkpoints/wikitext103/NAME/checkpoint_best.pt
#   --data              fairseq-preprocess --only-source directory; default data-bin/wikitext-103
#   --results           default results/
#   --smoke             tiny local data on the CPU: defaults move under runs/smoke/, --context-window defaults to
#                       half the block
#   --tokens-per-sample block length scored at once; default: the checkpoint's training block
#   --context-window    tokens of context before each scored stretch (fairseq-eval-lm --context-window); default 400,
#                       fairseq's WikiText-103 evaluation of 512-token models (Baevski & Auli's adaptive-input figures
#                       use --tokens-per-sample 3072 --context-window 2560). Not for Memformer: its task, memformer_lm,
#                       scores the whole split as one stream with the memory carried across blocks.
#   --batch-size        default 2 (Memformer: 1, a single stream)
#   --state-steps       decoding steps before the decoding state is measured; default --tokens-per-sample
#   --cpu               stay on the CPU when a GPU is present
#   after --             extra flags for fairseq-eval-lm (for example --softmax-batch 1024 for adaptive softmax)
#
# The model's fairseq task (language_modeling or memformer_lm) is read from the checkpoint. Default paths are
# relative to the repository root; paths given on the command line are relative to the current directory.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MEMATTN_VENV:-$root/.venv}"
export PATH="$venv/bin:$PATH" PYTHONWARNINGS="${PYTHONWARNINGS:-ignore}"
prog=evaluate_lm

source "$(dirname "${BASH_SOURCE[0]}")/_cli.sh"  # usage, die, need_value, integer

name="" checkpoint="" data="" results="" smoke=0 tps="" window="" batch="" steps="" cpu=()
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --name) need_value "$@"; name="$2"; shift 2 ;;
    --checkpoint) need_value "$@"; checkpoint="$2"; shift 2 ;;
    --data) need_value "$@"; data="$2"; shift 2 ;;
    --results) need_value "$@"; results="$2"; shift 2 ;;
    --smoke) smoke=1; shift ;;
    --tokens-per-sample) need_value "$@"; integer "$1" "$2"; tps="$2"; shift 2 ;;
    --context-window) need_value "$@"; integer "$1" "$2" 0; window="$2"; shift 2 ;;
    --batch-size) need_value "$@"; integer "$1" "$2"; batch="$2"; shift 2 ;;
    --state-steps) need_value "$@"; integer "$1" "$2"; steps="$2"; shift 2 ;;
    --cpu) cpu=(--cpu); shift ;;
    --) shift; extra=("$@"); break ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[ -n "$name" ] || die "--name is required"
[[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9._+-]*$ ]] || die "--name '$name': use letters, digits and . _ + - only"

base="$root"; [ "$smoke" = 1 ] && base="$root/runs/smoke" && cpu=(--cpu)
data="${data:-$base/data-bin/wikitext-103}"
checkpoint="${checkpoint:-$base/checkpoints/wikitext103/$name/checkpoint_best.pt}"
results="${results:-$root/$([ "$smoke" = 1 ] && echo runs/smoke/results || echo results)}"
if [ -n "$tps" ] && [ -n "$window" ]; then
  [ "$window" -lt "$tps" ] || die "--context-window $window must be smaller than --tokens-per-sample $tps"
fi
[ -f "$data/dict.txt" ] || die "--data $data has no dict.txt (prepare it with scripts/prepare_wikitext103.sh)"
[ -f "$checkpoint" ] || die "--checkpoint $checkpoint does not exist"

errors="$(mktemp)"; trap 'rm -f "$errors"' EXIT
info="$(python -m memattn_fairseq.recipes.checkpoint_info "$checkpoint" --get task tokens_per_sample 2>"$errors")" \
  || { grep -E 'error' "$errors" | tail -n 1 >&2 || tail -n 3 "$errors" >&2; exit 2; }
read -r task trained_tps <<< "$info"
tps="${tps:-$trained_tps}"
[[ "$tps" =~ ^[0-9]+$ ]] || die "the checkpoint has no tokens_per_sample; pass --tokens-per-sample"

window_flags=()
if [ "$task" = memformer_lm ]; then
  [ -z "$window" ] || [ "$window" = 0 ] \
    || die "--context-window does not apply to memformer_lm checkpoints (the memory carries the context across blocks)"
  window=0 batch="${batch:-1}"
else
  [ "$smoke" = 1 ] && window="${window:-$((tps / 2))}"
  window="${window:-400}" batch="${batch:-2}"
  [ "$window" -lt "$tps" ] || die "--context-window $window must be smaller than --tokens-per-sample $tps"
  window_flags=(--context-window "$window")
fi
steps="${steps:-$tps}"
settings="--tokens-per-sample $tps${window_flags[*]:+ ${window_flags[*]}}"

logs="$results/wikitext103/logs"
mkdir -p "$logs"
for subset in valid test; do
  log="$logs/$name.$subset.log"
  echo "[$prog] $name: fairseq-eval-lm on $subset (task $task, $settings) -> $log" >&2
  fairseq-eval-lm "$data" --user-dir "$root/memattn_fairseq" --task "$task" --path "$checkpoint" \
      --gen-subset "$subset" --tokens-per-sample "$tps" "${window_flags[@]}" --batch-size "$batch" \
      --log-format simple "${cpu[@]}" "${extra[@]}" > "$log" 2>&1 \
    || { tail -n 15 "$log" >&2; echo "$prog: error: fairseq-eval-lm failed on $subset (full log: $log)" >&2; exit 1; }
  grep -E 'Evaluated|Perplexity' "$log" | sed -E "s/^.*(Evaluated|Loss)/[$prog]   \1/" >&2 || true
done

record="$results/wikitext103/$name.json"
smoke_flag=(); [ "$smoke" = 1 ] && smoke_flag=(--smoke)
python -m memattn_fairseq.recipes.results_record lm --name "$name" --data "$data" --checkpoint "$checkpoint" \
    --log "valid=$logs/$name.valid.log" --log "test=$logs/$name.test.log" --fairseq-task "$task" \
    --tokens-per-sample "$tps" --context-window "$window" --state-steps "$steps" "${smoke_flag[@]}" "${cpu[@]}" \
    --out "$record"
echo "[$prog] wrote $record" >&2

#!/usr/bin/env bash
# Evaluate a translation run on WMT En-De: average its last N checkpoints, translate test and valid with
# fairseq-generate (beam 4, length penalty 0.6, sentencepiece removed), score sacreBLEU on the detokenised output
# against DATA/raw/<subset>.de and tokenised compound-split BLEU, read the decoding speed from the generate log,
# measure the decoding-state size, write one JSON record RESULTS/wmt_en_de/NAME.json and print its scores, each
# beside its sacreBLEU signature.
#
#   bash scripts/evaluate_mt.sh --name NAME [--checkpoint-dir DIR] [--data DIR] [--average N] [--results DIR]
#        [--smoke] [--average-by auto|update|epoch] [--subsets test,valid] [--beam 4] [--lenpen 0.6]
#        [--state-steps L] [--state-source-length S] [--cpu] [-- GENERATE_FLAGS]
#
#   --name                 the run's name in tables and the record's file name
#   --checkpoint-dir       default checkpoints/wmt_en_de/NAME
#   --data                 fairseq-preprocess directory with raw/ references (scripts/prepare_wmt_en_de.sh);
#                          default data-bin/wmt16_en_de
#   --average N            average the last N checkpoints (default 5; smoke 2); 0: checkpoint_best.pt as it is.
#                          The average is written to CHECKPOINT_DIR/checkpoint_avg_lastN.pt
#   --average-by           update: checkpoint_<epoch>_<update>.pt; epoch: checkpoint<epoch>.pt; auto (default):
#                          update checkpoints when the directory has any, else epoch checkpoints
#   --results              default results/
#   --smoke                tiny local data on the CPU: defaults move under runs/smoke/
#   --subsets              splits to translate and score (default test,valid)
#   --state-steps, --state-source-length
#                          target and source tokens before the decoding state is measured (default 64 and 64;
#                          smoke 16 and 16)
#   --cpu                  stay on the CPU when a GPU is present
#   after --                extra flags for fairseq-generate (for example --max-tokens 8000)
#
# fairseq-generate runs with --required-batch-size-multiple 1: with fairseq's default of 8 it drops the last batch
# when that batch's size is not a multiple of 8 (fairseq issue #5036), and those sentences would go unscored.
# Default paths are relative to the repository root; paths given on the command line to the current directory.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MEMATTN_VENV:-$root/.venv}"
export PATH="$venv/bin:$PATH" PYTHONWARNINGS="${PYTHONWARNINGS:-ignore}"
prog=evaluate_mt
source_lang=en target_lang=de

source "$(dirname "${BASH_SOURCE[0]}")/_cli.sh"  # usage, die, need_value, integer

name="" ckpt_dir="" data="" results="" smoke=0 average="" by=auto subsets="test,valid" beam=4 lenpen=0.6
steps="" source_length="" cpu=() extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --name) need_value "$@"; name="$2"; shift 2 ;;
    --checkpoint-dir) need_value "$@"; ckpt_dir="$2"; shift 2 ;;
    --data) need_value "$@"; data="$2"; shift 2 ;;
    --results) need_value "$@"; results="$2"; shift 2 ;;
    --average) need_value "$@"; integer "$1" "$2" 0; average="$2"; shift 2 ;;
    --average-by) need_value "$@"; by="$2"; shift 2
                  [[ "$by" =~ ^(auto|update|epoch)$ ]] || die "--average-by must be auto, update or epoch, got '$by'" ;;
    --subsets) need_value "$@"; subsets="$2"; shift 2 ;;
    --beam) need_value "$@"; integer "$1" "$2"; beam="$2"; shift 2 ;;
    --lenpen) need_value "$@"; [[ "$2" =~ ^[0-9]*\.?[0-9]+$ ]] || die "--lenpen must be a number, got '$2'"
              lenpen="$2"; shift 2 ;;
    --state-steps) need_value "$@"; integer "$1" "$2"; steps="$2"; shift 2 ;;
    --state-source-length) need_value "$@"; integer "$1" "$2"; source_length="$2"; shift 2 ;;
    --smoke) smoke=1; shift ;;
    --cpu) cpu=(--cpu); shift ;;
    --) shift; extra=("$@"); break ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[ -n "$name" ] || die "--name is required"
[[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9._+-]*$ ]] || die "--name '$name': use letters, digits and . _ + - only"

base="$root" full_average=5 state_default=64
[ "$smoke" = 1 ] && base="$root/runs/smoke" full_average=2 state_default=16 && cpu=(--cpu)
data="${data:-$base/data-bin/wmt16_en_de}"
ckpt_dir="${ckpt_dir:-$base/checkpoints/wmt_en_de/$name}"
results="${results:-$root/$([ "$smoke" = 1 ] && echo runs/smoke/results || echo results)}"
average="${average:-$full_average}" steps="${steps:-$state_default}" source_length="${source_length:-$state_default}"
[ -f "$data/dict.$target_lang.txt" ] \
  || die "--data $data has no dict.$target_lang.txt (prepare it with scripts/prepare_wmt_en_de.sh)"
[ -d "$ckpt_dir" ] || die "--checkpoint-dir $ckpt_dir is not a directory"
IFS=, read -r -a subset_list <<< "$subsets"
[ "${#subset_list[@]}" -gt 0 ] || die "--subsets is empty"
for subset in "${subset_list[@]}"; do
  [[ "$subset" =~ ^[A-Za-z0-9_]+$ ]] || die "--subsets: bad split name '$subset'"
  [ -f "$data/raw/$subset.$target_lang" ] \
    || die "--data $data has no raw/$subset.$target_lang (the references for --subsets $subset)"
done

averaged=()
if [ "$average" = 0 ]; then
  checkpoint="$ckpt_dir/checkpoint_best.pt"
  [ -f "$checkpoint" ] || die "--average 0 evaluates $checkpoint, which does not exist"
else
  if [ "$by" = auto ]; then
    by=epoch; compgen -G "$ckpt_dir/checkpoint_*_*.pt" > /dev/null && by=update
  fi
  checkpoint="$ckpt_dir/checkpoint_avg_last$average.pt"
  errors="$(mktemp)"; trap 'rm -f "$errors"' EXIT
  echo "[$prog] $name: averaging the last $average $by checkpoints of $ckpt_dir" >&2
  list="$(python -m memattn_fairseq.recipes.average_checkpoints --inputs "$ckpt_dir" \
             "--num-$by-checkpoints" "$average" --output "$checkpoint" 2>"$errors")" \
    || { grep -E 'error' "$errors" | tail -n 1 >&2 || tail -n 3 "$errors" >&2; exit 2; }
  mapfile -t averaged <<< "$list"
fi

logs="$results/wmt_en_de/logs"
mkdir -p "$logs"
log_flags=()
for subset in "${subset_list[@]}"; do
  log="$logs/$name.$subset.generate.txt"
  echo "[$prog] $name: fairseq-generate on $subset (beam $beam, lenpen $lenpen) -> $log" >&2
  fairseq-generate "$data" --user-dir "$root/memattn_fairseq" --path "$checkpoint" --gen-subset "$subset" \
      --source-lang "$source_lang" --target-lang "$target_lang" --beam "$beam" --lenpen "$lenpen" \
      --post-process sentencepiece --required-batch-size-multiple 1 "${cpu[@]}" "${extra[@]}" > "$log" 2>&1 \
    || { tail -n 15 "$log" >&2; echo "$prog: error: fairseq-generate failed on $subset (full log: $log)" >&2; exit 1; }
  grep -E 'Translated' "$log" | sed -E "s/^.*(Translated)/[$prog]   \1/" >&2 || true
  log_flags+=(--log "$subset=$log")
done

record="$results/wmt_en_de/$name.json"
smoke_flag=(); [ "$smoke" = 1 ] && smoke_flag=(--smoke)
python -m memattn_fairseq.recipes.results_record mt --name "$name" --data "$data" --checkpoint "$checkpoint" \
    --averaged "${averaged[@]}" "${log_flags[@]}" --beam "$beam" --lenpen "$lenpen" --target-lang "$target_lang" \
    --state-steps "$steps" --state-source-length "$source_length" "${smoke_flag[@]}" "${cpu[@]}" --out "$record"
echo "[$prog] wrote $record" >&2

#!/usr/bin/env bash
# Reproduce a paper table end to end: prepare the data, train each model, evaluate it, and collect the tables.
#
#   bash scripts/reproduce.sh TASK [--models A,B,...] [--work DIR] [--smoke] [--nproc N]
#
#   TASK        wikitext103 | wmt_en_de
#   --models    experiments to run (default: every experiment of the task, see configs/TASK/)
#   --work      root for downloads/, data-bin/, checkpoints/ and results/ (default: the repository root;
#               smoke: runs/smoke)
#   --smoke     tiny local stand-in data, tiny models and a few updates on the CPU: the same scripts and code path
#   --nproc N   train in N CPU processes (gloo) instead of on the visible GPUs
#
# Each step is one of the scripts beside this one, so any step can be rerun alone; prepared data is reused and an
# interrupted training run resumes from its checkpoint_last.pt when started again. The tables end up in
# WORK/results/results.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
prog=reproduce
source "$(dirname "${BASH_SOURCE[0]}")/_cli.sh"  # usage, die, need_value, integer

task="" models="" work="" smoke=() nproc=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --models) need_value "$@"; models="$2"; shift 2 ;;
    --work) need_value "$@"; work="$2"; shift 2 ;;
    --smoke) smoke=(--smoke); shift ;;
    --nproc) need_value "$@"; nproc=(--nproc "$2"); shift 2 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [ -z "$task" ] || die "one TASK only, got '$task' and '$1'"; task="$1"; shift ;;
  esac
done
case "$task" in
  wikitext103) data_name=wikitext-103 evaluate=evaluate_lm.sh ;;
  wmt_en_de) data_name=wmt16_en_de evaluate=evaluate_mt.sh ;;
  "") die "TASK is required: wikitext103 or wmt_en_de" ;;
  *) die "unknown TASK '$task': choose wikitext103 or wmt_en_de" ;;
esac
if [ -z "$models" ]; then
  models="$(cd "$root/configs/$task" && ls [!_]*.yaml | sed 's/\.yaml$//' | paste -sd, -)"
fi
work="$(mkdir -p "${work:-$root/${smoke[*]:+runs/smoke}}" && cd "${work:-$root/${smoke[*]:+runs/smoke}}" && pwd)"
data="$work/data-bin/$data_name"
results="$work/results"

step() { echo "[$prog] $*" >&2; }
if [ -f "$data/dict.txt" ]; then
  step "data: reusing $data"
else
  step "data: preparing $data"
  bash "$here/prepare_$task.sh" "${smoke[@]}" --downloads "$work/downloads/$data_name" --dest "$data"
fi
IFS=, read -r -a model_list <<<"$models"
for model in "${model_list[@]}"; do
  save_dir="$work/checkpoints/$task/$model"
  step "$model: training into $save_dir"
  bash "$here/train_$task.sh" "$model" "${smoke[@]}" "${nproc[@]}" --data "$data" --save-dir "$save_dir"
  step "$model: evaluating"
  if [ "$task" = wikitext103 ]; then
    bash "$here/$evaluate" --name "$model" "${smoke[@]}" --data "$data" --checkpoint "$save_dir/checkpoint_best.pt" \
      --results "$results"
  else
    bash "$here/$evaluate" --name "$model" "${smoke[@]}" --data "$data" --checkpoint-dir "$save_dir" \
      --results "$results"
  fi
done
bash "$here/collect_results.sh" "${smoke[@]}" --results "$results" --out "$results/results.md"
step "tables: $results/results.md"

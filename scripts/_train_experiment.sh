#!/usr/bin/env bash
# The body shared by scripts/train_<task>.sh, called as `_train_experiment.sh TASK SCRIPT [SCRIPT's arguments]`:
# prints SCRIPT's header for --help, otherwise builds the fairseq-hydra-train command with
# memattn_fairseq/recipes/experiments.py and runs it from the repository root.
#
# With --nproc N it starts N such commands, one per CPU rank of fairseq's own distributed training, each with its
# distributed_rank and a shared file rendezvous: fairseq starts processes only for GPUs. The first rank to fail
# stops the others, and its exit status is the script's.
set -euo pipefail
task="$1" script="$2"
shift 2
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MEMATTN_VENV:-$root/.venv}"
for arg in "$@"; do
  case "$arg" in
    --) break ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$script"; exit 0 ;;
  esac
done
lines="$("$venv/bin/python" "$root/memattn_fairseq/recipes/experiments.py" train-command "$task" \
  "$(basename "$script")" "$@")"
mapfile -t command <<<"$lines"
ranks="${command[0]}"
command=("${command[@]:1}")
cd "$root"
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore}"
echo "+ ${command[*]}" >&2
[ "$ranks" = 1 ] && exec "${command[@]}"

# CPU ranks share the cores unless OMP_NUM_THREADS says otherwise
threads=$(( $(nproc) / ranks )); export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(( threads > 0 ? threads : 1 ))}"
store="$(mktemp -d)" pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$store"' EXIT
for ((rank = 0; rank < ranks; rank++)); do
  "${command[@]}" "distributed_training.distributed_rank=$rank" \
    "distributed_training.distributed_init_method='file://$store/rendezvous'" &
  pids+=("$!")
done
for _ in "${pids[@]}"; do
  wait -n || exit $?
done

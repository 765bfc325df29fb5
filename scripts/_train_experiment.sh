#!/usr/bin/env bash
# The body shared by scripts/train_<task>.sh, called as `_train_experiment.sh TASK SCRIPT [SCRIPT's arguments]`:
# prints SCRIPT's header for --help, otherwise builds the fairseq-hydra-train command with
# memattn_fairseq/recipes/experiments.py and runs it from the repository root.
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
command_lines="$("$venv/bin/python" "$root/memattn_fairseq/recipes/experiments.py" train-command "$task" \
  "$(basename "$script")" "$@")"
mapfile -t command <<<"$command_lines"
cd "$root"
export PYTHONWARNINGS="${PYTHONWARNINGS:-ignore}"
echo "+ ${command[*]}" >&2
exec "${command[@]}"

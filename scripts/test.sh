#!/usr/bin/env bash
# The test suite: sets up (or reuses) .venv, then runs pytest on the CPU. Extra arguments go to pytest,
# e.g. `bash scripts/test.sh tests/attention -k abc`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup_env.sh"
venv="${MEMATTN_VENV:-$root/.venv}"
cd "$root"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" PYTHONWARNINGS=ignore
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider --durations=15 "${@:-tests}"

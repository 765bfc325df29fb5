#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment in .venv with every dependency pinned.
# Idempotent: a second run only checks the stamp and returns. Override the location with MEMATTN_VENV.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MEMATTN_VENV:-$root/.venv}"
python_bin="${PYTHON:-python3.11}"
stamp="$venv/.memattn-env-$(sha1sum "$root/requirements.txt" "$root/setup.py" | sha1sum | cut -c1-12)"

if [ -f "$stamp" ]; then
  echo "[setup] reusing $venv"
  exit 0
fi

command -v "$python_bin" >/dev/null || python_bin=python3
"$python_bin" -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found %s" % sys.version.split()[0]' 
[ -x "$venv/bin/python" ] || { echo "[setup] creating $venv"; "$python_bin" -m venv "$venv"; }
pip=("$venv/bin/python" -m pip install --disable-pip-version-check -q)

# torch first, pinned. Without a CUDA driver only a CPU build is acceptable, never PyPI's default build with its
# several GB of CUDA libraries: a local CPU wheel from pip's find-links (PIP_FIND_LINKS, TORCH_WHEEL_DIR) when one
# is there, otherwise the PyTorch CPU index as an extra index (its "+cpu" release outranks PyPI's). torch's own
# dependencies always come from the package registry.
torch_version="${TORCH_VERSION:-2.13.0}"
if ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
  echo "[setup] installing torch==$torch_version"
  if command -v nvidia-smi >/dev/null 2>&1; then
    "${pip[@]}" "torch==$torch_version"
  else
    wheel=""
    for dir in ${TORCH_WHEEL_DIR:-} ${PIP_FIND_LINKS:-} $("$venv/bin/python" -m pip config get global.find-links 2>/dev/null); do
      for candidate in "$dir"/torch-"$torch_version"+cpu-*.whl; do
        [ -f "$candidate" ] && wheel="$candidate" && break 2
      done
    done
    if [ -n "$wheel" ]; then
      "${pip[@]}" "$wheel"
    else
      "${pip[@]}" "torch==$torch_version" --extra-index-url https://download.pytorch.org/whl/cpu
    fi
  fi
fi

# Build requirements of fairseq's extensions, then fairseq itself without its (unpinned) dependency list.
"${pip[@]}" numpy==1.26.4 cython==3.3.1 setuptools wheel
if ! "$venv/bin/python" -c 'import fairseq' 2>/dev/null; then
  echo "[setup] building fairseq-fixed 0.12.3.1 from source (a few minutes)"
  "${pip[@]}" --no-build-isolation --no-deps --no-binary fairseq-fixed fairseq-fixed==0.12.3.1
fi

echo "[setup] installing pinned runtime dependencies"
"${pip[@]}" -r "$root/requirements.txt"
"${pip[@]}" --no-deps --no-build-isolation -e "$root"
"$venv/bin/python" -c 'import torch, fairseq, memattn_fairseq; print("[setup] torch", torch.__version__, "fairseq", fairseq.__version__)'
touch "$stamp"

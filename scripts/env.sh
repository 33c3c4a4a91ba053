#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment in .venv with the pinned stack.
# Sourced by scripts/main.sh and scripts/test.sh; safe to run again (a stamp skips a finished install).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${ALIGN_NB_VENV:-$root/.venv}"
py="${PYTHON:-python3}"
stamp="$venv/.align_nb-stamp"
want="$(cat "$root/settings.ini" "$root/setup.py" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ]; then
  echo "[env] creating $venv with $($py --version)"
  "$py" -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[env] installing the pinned stack (torch 2.14.1 / torchvision 0.29.1 / timm / nbdev 2 ...)"
  "$venv/bin/python" -m pip install -q --upgrade "pip<27" "setuptools<81" wheel packaging
  "$venv/bin/python" -m pip install -q -e "$root[dev]"
  echo "$want" > "$stamp"
fi
export PATH="$venv/bin:$PATH"
export HF_HUB_OFFLINE=1
export PYTHONHASHSEED=0

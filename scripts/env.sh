#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment in .venv with the tested stack: align_nb[dev] (ranges in
# settings.ini) at the exact versions of constraints.txt.
# Sourced by scripts/main.sh and scripts/test.sh; safe to run again (a stamp skips a finished install).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${ALIGN_NB_VENV:-$root/.venv}"
py="${PYTHON:-python3}"
stamp="$venv/.align_nb-stamp"
cons="$root/constraints.txt"
want="$(cat "$root/settings.ini" "$root/setup.py" "$cons" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ]; then
  echo "[env] creating $venv with $($py --version)"
  "$py" -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[env] installing the tested stack ($(grep -E '^torch==|^nbdev==' "$cons" | tr '\n' ' ')... from constraints.txt)"
  "$venv/bin/python" -m pip install -q --upgrade "pip<27" "setuptools<81" wheel packaging -c "$cons"
  "$venv/bin/python" -m pip install -q -e "$root[dev]" -c "$cons"
  echo "$want" > "$stamp"
fi
export PATH="$venv/bin:$PATH"
export HF_HUB_OFFLINE=1
export PYTHONHASHSEED=0

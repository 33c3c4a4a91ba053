#!/usr/bin/env bash
# The whole test suite: environment, notebooks <-> library sync, nbdev notebook tests, pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/env.sh
echo "[test] checking that align_nb/ is what nbdev_export makes from nbs/"
python tools/check_export.py
echo "[test] checking that README.md is what tools/make_readme.py makes from nbs/index.ipynb"
python tools/make_readme.py --check
echo "[test] nbdev notebook tests"
nbdev_test --n_workers 2
echo "[test] pytest"
python -m pytest -q tests "$@"

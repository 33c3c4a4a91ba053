#!/usr/bin/env bash
# The whole test suite: environment, notebooks <-> library sync, nbdev notebook tests, pytest (the fast in-process
# tests and the end-to-end ones in tests/e2e/, marked `e2e`; the fast loop alone: CONTRIBUTING.md).
# The notebook tests run in the background while pytest runs its tests in 3 worker processes (pytest-xdist), so both
# cores stay busy (many tests wait part of the time on subprocesses, kernels, torchrun or a browser: a third worker fills
# those gaps). `--dist loadfile`: the tests of one file run in one worker, so a module fixture is built once; work
# shared by several files (the quick toyworld study, the full-scale run, the docs site) is built once per run by
# tests/conftest.py `once_per_run`.
# Extra arguments go to pytest (e.g. `-k distill`, `-m "not e2e"`, or `-n 0` for one process).
# ALIGN_NB_TEST_WORKERS: pytest worker processes (default 3); ALIGN_NB_NB_WORKERS: nbdev_test workers (default 2).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/env.sh
# One CPU thread per process (unless set already): 3 pytest workers and 2 nbdev_test workers share the 2 cores, and
# OpenMP / BLAS threads beyond one per process only spin (tests/conftest.py sets the same for a bare `pytest`).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}" OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
t0=$SECONDS
echo "[test] checking that align_nb/ is what nbdev_export makes from nbs/"
python tools/check_export.py
echo "[test] checking that README.md is what tools/make_readme.py makes from nbs/index.ipynb"
python tools/make_readme.py --check
nblog="$(mktemp "${TMPDIR:-/tmp}/align_nb_nbdev_test.XXXXXX.log")"
echo "[test] nbdev notebook tests, in the background (their output follows pytest's)"
nbdev_test --n_workers "${ALIGN_NB_NB_WORKERS:-2}" --timing > "$nblog" 2>&1 &
nbpid=$!
trap 'kill "$nbpid" 2>/dev/null || true' EXIT
echo "[test] pytest"
set +e
python -m pytest -q -n "${ALIGN_NB_TEST_WORKERS:-3}" --dist loadfile --durations=10 tests "$@"
prc=$?
wait "$nbpid"
nrc=$?
set -e
trap - EXIT
echo "[test] nbdev notebook tests (exit status $nrc; seconds per notebook):"
grep -v 'Kernel is running over TCP without encryption' "$nblog" || true
rm -f "$nblog"
echo "[test] pytest exit status $prc; nbdev_test exit status $nrc; $((SECONDS - t0)) s in all"
if [ "$prc" -ne 0 ] || [ "$nrc" -ne 0 ]; then exit 1; fi

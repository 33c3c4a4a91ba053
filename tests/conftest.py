import os
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')
# One CPU thread per process unless the caller chose otherwise (scripts/test.sh sets the same): the suite runs pytest
# workers beside nbdev_test workers on 2 cores, and a second OpenMP / BLAS thread per process only spins while it
# waits (side by side on the 2-core machine: nbs/06_teacher.ipynb took 24.2 CPU-s with the default 2 threads, 6.6 with 1).
# Set before any test module imports torch or numpy. Tests that need another count set it in their own subprocesses.
for _v in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS'): os.environ.setdefault(_v, '1')
import json, shutil
from pathlib import Path
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

# Layout: tests/test_<module>.py hold the in-process tests of library module <module> (plus test_security.py, the planted
# payloads across every reader, and test_docs.py / test_packaging.py for the tools and the package); tests/e2e/ holds
# every test that runs notebooks, subprocesses, torchrun or a browser, each file marked `e2e` (`pytestmark`), so
# `pytest -m "not e2e" tests` is the fast loop. Helpers shared between files live in tests/helpers.py.


def pytest_configure(config):
    config.addinivalue_line('markers', 'e2e: runs notebooks, subprocesses, torchrun or a browser (the fast loop is -m "not e2e")')


@pytest.fixture
def root(): return ROOT

@pytest.fixture
def shared_data():
    "The real data folder (../shared/data); skips the test when it is absent."
    from align_nb.core import shared_data_dir
    d = shared_data_dir()
    if d is None: pytest.skip('shared data folder not found (set ALIGN_NB_DATA or place shared/data beside the repo)')
    return d

# ---------------------------------------------------------------- expensive work shared by the whole run
def run_shared_dir(tmp_path_factory) -> Path:
    "A folder shared by every test of this pytest run, also across xdist workers (under xdist: beside the workers' temp folders)."
    base = tmp_path_factory.getbasetemp()
    d = (base.parent if os.environ.get('PYTEST_XDIST_WORKER') else base) / 'shared'
    d.mkdir(parents=True, exist_ok=True)
    return d


def once_per_run(tmp_path_factory, name:str, build, read=lambda folder, saved: saved):
    """`build(folder)` once per pytest run, in a folder `name` shared by all xdist workers; returns `read(folder, saved)`.
    The first worker builds under a file lock (`filelock.FileLock`) and saves what `build` returns as JSON (so it must
    be JSON-able); the others wait on the lock. `read` turns the folder and that saved value back into the fixture's
    value (paths, tables, configs), in each worker."""
    from filelock import FileLock
    d = run_shared_dir(tmp_path_factory)
    folder, done = d / name, d / f'{name}.result.json'
    with FileLock(d / f'{name}.lock'):
        if not done.exists():
            if folder.exists(): shutil.rmtree(folder)  # an earlier attempt that failed half-way
            folder.mkdir()
            saved = build(folder)
            tmp = done.with_suffix('.tmp'); tmp.write_text(json.dumps(saved)); os.replace(tmp, done)
    return read(folder, json.loads(done.read_text()))


def _toyworld_quick_plan(d):
    """The jobs of the toyworld study (resnet, quick) in folder `d`. Test-only sizes on top of quick mode (what the tests
    check holds with them; they halve the study's CPU time): n_boot=100 bootstrap resamples, one L1 weight for the human
    model (quick mode tries 3), 8 distillation steps (quick: 20)."""
    from align_nb.toy_study import plan_toyworld
    return plan_toyworld(backbones=['resnet'], runs_dir=d / 'runs', figures_dir=d / 'figs', quick=True,
                         extra={'n_boot': 100, 'human_lams': '0.01', 'steps': 8})


def _toyworld_quick_study(d):
    "The toyworld study through papermill in `d`, with its own empty cache; then run again (status tables saved as CSV)."
    from align_nb.runner import run_jobs
    old = os.environ.get('ALIGN_NB_CACHE'); os.environ['ALIGN_NB_CACHE'] = str(d / 'cache')
    try:
        jobs = _toyworld_quick_plan(d)
        st = run_jobs(jobs, status_file=d / 'status.csv', verbose=False)
        st2 = run_jobs(jobs, verbose=False)
    finally:
        if old is None: os.environ.pop('ALIGN_NB_CACHE')
        else: os.environ['ALIGN_NB_CACHE'] = old
    st.to_csv(d / 'status_first.csv', index=False); st2.to_csv(d / 'status_rerun.csv', index=False)


def _read_toyworld_quick_study(d, _):
    import pandas as pd
    return d, _toyworld_quick_plan(d), pd.read_csv(d / 'status_first.csv'), pd.read_csv(d / 'status_rerun.csv')


@pytest.fixture(scope='session')
def toyworld_quick_study(tmp_path_factory):
    """(folder, jobs, status of the first run, status of the rerun) of the quick toyworld study, run once per pytest run
    and shared by every test and xdist worker that asks for it: read it, and write only into new sub-folders of your own."""
    return once_per_run(tmp_path_factory, 'toyworld_quick_study', _toyworld_quick_study, _read_toyworld_quick_study)


@pytest.fixture(scope='session')
def fullscale_study(tmp_path_factory):
    """The small full-scale plan through `align-nb fullscale` with 2 processes per heavy step, run and rerun once per
    pytest run (tests/helpers.py: fullscale_two_process_study): read it; write only into folders of your own."""
    from helpers import fullscale_two_process_study, read_fullscale_study
    return once_per_run(tmp_path_factory, 'fullscale_study', fullscale_two_process_study, read_fullscale_study)


# ---------------------------------------------------------------- the released AligNet data (tests/test_release.py, tests/e2e/test_release.py)
@pytest.fixture(scope='module')
def rel(tmp_path_factory):
    "A correct official-layout release over the 419 sample images: tfds-order list (shuffled), activations, train/val files."
    from align_nb import release as R
    from align_nb.triplets import generate_triplets
    from helpers import IMAGENET_SAMPLE as SAMPLE
    root = tmp_path_factory.mktemp('release')
    names = np.array(sorted(p.name for p in SAMPLE.glob('*/*.JPEG')))
    rng = np.random.default_rng(0)
    tfds = names[rng.permutation(len(names))]  # the "tfds order": not sorted
    np.save(root / R.TFDS_LIST_NAME, tfds)
    feats = rng.normal(size=(len(tfds), 16)).astype(np.float32)
    clusters = np.array([int(n[1:9]) % 40 for n in tfds])
    np.savez(root / 'activations.npz', activations=feats, clusters=clusters)
    out = {}
    for split, n, seed in (('train', 600, 0), ('val', 100, 1)):
        t = generate_triplets(feats, n, 'cluster_border', k=clusters, ids=tfds, seed=seed, progress=False, temperature=0.5)
        out[split] = R.write_official(t, root, 'uncertainty_distillation', split, 'cluster_border_500', tfds_filenames=root / R.TFDS_LIST_NAME)
    return dict(root=root, tfds=tfds, feats=feats, **out)

@pytest.fixture(scope='module')
def broken(rel, tmp_path_factory):
    "Broken copies of the release's train file (tests/test_release.py, tests/e2e/test_release.py)."
    from align_nb import release as R
    return R.write_broken_copies(rel['train'], tmp_path_factory.mktemp('broken'))

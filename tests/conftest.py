import os
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')
# One CPU thread per process unless the caller chose otherwise (scripts/test.sh sets the same): the suite runs 3 pytest
# workers beside 2 nbdev_test workers on 2 cores, and a second OpenMP / BLAS thread per process only spins while it
# waits (side by side on the 2-core machine: nbs/07_teacher.ipynb took 24.2 CPU-s with the default 2 threads, 6.6 with 1).
# Set before any test module imports torch or numpy. Tests that need another count set it in their own subprocesses.
for _v in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS'): os.environ.setdefault(_v, '1')
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

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


def once_per_run(tmp_path_factory, name:str, build):
    """`build(folder)` once per pytest run, in a folder `name` shared by all xdist workers: the first worker builds it under
    an exclusive file lock and pickles what `build` returns; the others wait on the lock and read that result."""
    import fcntl, pickle
    d = run_shared_dir(tmp_path_factory)
    folder, done = d / name, d / f'{name}.result.pkl'
    with open(d / f'{name}.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not done.exists():
                if folder.exists(): import shutil; shutil.rmtree(folder)  # an earlier attempt that failed half-way
                folder.mkdir()
                res = build(folder)
                tmp = done.with_suffix('.tmp'); tmp.write_bytes(pickle.dumps(res)); os.replace(tmp, done)
            return pickle.loads(done.read_bytes())
        finally: fcntl.flock(lock, fcntl.LOCK_UN)


def _toyworld_quick_study(d):
    """The toyworld study (resnet, quick) through papermill in `d`, with its own empty cache; then run again.
    Test-only sizes on top of quick mode (what the tests check holds with them; they halve the study's CPU time):
    n_boot=100 bootstrap resamples, one L1 weight for the human model (quick mode tries 3), 8 distillation steps (quick: 20)."""
    from align_nb.runner import run_jobs
    from align_nb.experiment import plan_toyworld
    old = os.environ.get('ALIGN_NB_CACHE'); os.environ['ALIGN_NB_CACHE'] = str(d / 'cache')
    try:
        jobs = plan_toyworld(backbones=['resnet'], runs_dir=d / 'runs', figures_dir=d / 'figs', quick=True,
                             extra={'n_boot': 100, 'human_lams': '0.01', 'steps': 8})
        st = run_jobs(jobs, status_file=d / 'status.csv', verbose=False)
        st2 = run_jobs(jobs, verbose=False)
    finally:
        if old is None: os.environ.pop('ALIGN_NB_CACHE')
        else: os.environ['ALIGN_NB_CACHE'] = old
    return d, jobs, st, st2


@pytest.fixture(scope='session')
def toyworld_quick_study(tmp_path_factory):
    """(folder, jobs, status of the first run, status of the rerun) of the quick toyworld study, run once per pytest run
    and shared by every test and xdist worker that asks for it: read it, and write only into new sub-folders of your own."""
    return once_per_run(tmp_path_factory, 'toyworld_quick_study', _toyworld_quick_study)


def _fullscale_study(d):
    from test_fullscale import fullscale_two_process_study  # tests/ is on sys.path (pytest's rootdir-relative imports)
    return fullscale_two_process_study(d)


@pytest.fixture(scope='session')
def fullscale_study(tmp_path_factory):
    """The small full-scale plan through `align-nb fullscale` with 2 processes per heavy step, run and rerun once per
    pytest run (tests/test_fullscale.py: fullscale_two_process_study): read it; write only into folders of your own."""
    return once_per_run(tmp_path_factory, 'fullscale_study', _fullscale_study)


# ---------------------------------------------------------------- running in parallel (pytest-xdist)
# `scripts/test.sh` runs `pytest -n 3 --dist loadgroup --no-loadscope-reorder`: three worker processes, each a plain pytest
# session (env vars, cwd, torch threads and module imports stay per process). How the tests are shared out:
# - the tests of one file run in one worker, in file order, so a module-scoped fixture is built once (mark `xdist_group`);
# - the files in SPLIT_FILES hold independent, heavy tests without expensive shared fixtures: their tests go to
#   whichever worker is free, one by one;
# - a test or file marked `@pytest.mark.xdist_group('name')` runs in the worker that runs the rest of group `name`, one
#   after another (use it for tests that must not run concurrently with each other, e.g. over one fixed folder or port);
# - units start longest first (EXPECTED_SECONDS, measured on the 2-core machine; unlisted tests count 1 s each), so the
#   workers finish together instead of one running a long end-to-end test alone at the end.
# Without xdist (`pytest tests/test_x.py`), the order is the same as before: files and tests keep their order.
SPLIT_FILES = {'test_ddp.py', 'test_determinism.py', 'test_distill.py', 'test_fullscale.py', 'test_full_disk.py',
               'test_packaging.py', 'test_realexp.py', 'test_release.py', 'test_runner.py', 'test_validation.py', 'test_security.py', 'test_report.py',
               # torchrun --standalone and the servers of the browser check take free ports; every test writes under its tmp_path
               # (the docs site is built once per run by the `built_site` fixture, through once_per_run)
               'test_fullscale_launch.py', 'test_launch.py', 'test_docs.py'}

# Seconds per heavy test (node id without parameters) or per grouped file (its module fixtures included): one serial run of
# the suite on the shared 2-core machine (load average 5-14, so about 4.7x a quiet run); only their order matters here.
EXPECTED_SECONDS = {
    # group of the 2 tests that read the shared 2-process full-scale run (fixture fullscale_study; 780 for the 2 runs before)
    'fullscale_study': 600,
    'test_paper.py': 480,  # the quick toyworld study (session fixture toyworld_quick_study) and its checks
    'tests/test_release.py::test_fullscale_study_trains_from_the_release_end_to_end': 250,  # 382 before n_boot=100
    'tests/test_docs.py::test_browser_check_jupyterlab_quick_paper': 120,
    'tests/test_launch.py::test_two_ranks_fill_one_store_equal_to_one_process_and_resume_skips_finished_shards': 85,
    'tests/test_docs.py::test_site_builds_strictly_with_every_page': 45,  # the run's one site build (fixture built_site)
    'tests/test_docs.py::test_browser_check_site': 35,
    'tests/test_launch.py::test_a_failing_rank_is_named_with_its_log_tail': 40,
    'tests/test_launch.py::test_two_nodes_on_this_machine_through_the_rendezvous_and_command_sh': 32,
    'test_papers.py': 15,
    'tests/test_realexp.py::test_real_plan_end_to_end_quick': 187,
    'tests/test_determinism.py::test_two_fresh_runs_and_a_warm_cache_run_give_identical_numbers': 84,
    'test_realdata.py': 80,
    'tests/test_validation.py::test_two_runners_started_together_do_each_job_once': 53,
    'tests/test_release.py::test_real_distill_trains_from_the_release_with_the_monitor': 50,
    'test_human_model.py': 42,
    'tests/test_report.py::test_cli_report_and_paper_notebook': 40,
    'tests/test_ddp.py::test_two_ranks_match_one_process_and_checkpoints_move_between_them': 40,
    'tests/test_security.py::test_killed_checkpoint_write_leaves_no_temp_file_in_the_complete_folder': 39,
    'test_toyworld.py': 32,
    'test_caches.py': 28,
    'tests/test_full_disk.py::test_feature_cache_on_a_full_disk_is_a_clear_error_not_a_bus_error': 19,
    'tests/test_ddp.py::test_gpu_check_dry_run_on_cpu': 20,
    'tests/test_runner.py::test_failure_is_recorded_dependents_blocked_and_completed_runs_kept': 19,
    'tests/test_realexp.py::test_mur92_teacher_validation_uses_participants_choice_distributions': 16,
    'tests/test_release.py::test_cli_exit_codes_and_reorder': 16,
    'tests/test_distill.py::test_distillation_on_easy_task_lowers_loss_and_raises_val_accuracy': 15,
    'test_bench.py': 45,  # every bench script once, in one interpreter (fixture bench_runs)
    'tests/test_security.py::test_truncated_checkpoint_names_path_and_hint': 12,
    'tests/test_distill.py::test_resume_after_interruption_gives_identical_weights': 11,
    'tests/test_runner.py::test_run_made_with_other_threads_or_code_runs_again_from_an_empty_folder': 10,
}


def _expected(nodeid):
    "Expected seconds of one test: its own entry, else 1."
    base = nodeid.split('[')[0]
    return EXPECTED_SECONDS.get(nodeid, EXPECTED_SECONDS.get(base, 1.0))


def _group_of(item):
    "The xdist group an item already has (a mark in the test file), else None."
    m = item.get_closest_marker('xdist_group')
    if m is None: return None
    return str(m.args[0] if m.args else m.kwargs.get('name', 'default'))


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks
def pytest_collection_modifyitems(config, items):
    "Group each file's tests (except SPLIT_FILES) with an xdist_group mark; in an xdist worker, order the units longest first."
    for it in items:
        if _group_of(it) is None and it.path.name not in SPLIT_FILES:
            it.add_marker(pytest.mark.xdist_group(it.path.name))
    if not hasattr(config, 'workerinput'): return  # not an xdist worker: a plain run keeps pytest's order
    # units (a group, or a single test) in their first-seen order, then the longest first (a stable sort keeps file order)
    units, cost = {}, {}
    for it in items:
        key = _group_of(it) or it.nodeid
        units.setdefault(key, []).append(it)
        cost[key] = cost.get(key, 0.0) + _expected(it.nodeid)
    for key, its in units.items():
        if key in EXPECTED_SECONDS: cost[key] = EXPECTED_SECONDS[key]  # a whole file (its module fixtures included)
    order = sorted(units, key=lambda k: -cost[k])
    items[:] = [it for k in order for it in units[k]]


class _GroupIds:
    @pytest.hookimpl(trylast=True)  # after xdist's own hook
    def pytest_collection_modifyitems(self, config, items): _suffix_groups(config, items)

def pytest_configure(config):
    config.pluginmanager.register(_GroupIds(), 'align_nb_xdist_group_ids')
    config.addinivalue_line('markers', 'e2e: runs the installed tools end to end in subprocesses (pip, builds)')


def _suffix_groups(config, items):
    """Give each grouped test the node id `...@group` that `--dist loadgroup` schedules by. xdist 3.8 sets `item._nodeid`,
    which pytest 9 no longer reads (the id lives in `item._id`), so without this every xdist_group mark is ignored."""
    if not (hasattr(config, 'workerinput') and config.getvalue('loadgroup')): return
    from _pytest.nodeid import NodeId
    for it in items:
        g = _group_of(it)
        if g is not None and not it.nodeid.endswith('@' + g):
            it._id = NodeId.parse(f'{it.nodeid}@{g}')

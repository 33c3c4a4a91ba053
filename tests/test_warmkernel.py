"""Warm kernels (align_nb.warmkernel): the same notebook results as a cold kernel, one zygote per environment key,
signals, kills and exit codes as a cold kernel has them, a cold fallback, and zygotes that go away when idle.

Each test uses a warm-kernel folder of its own (`ALIGN_NB_WARM_DIR`), so its zygotes are its own; the folder path is
short (Unix socket paths are limited to about 100 bytes)."""
import json, os, shutil, signal, subprocess, sys, tempfile, time
from pathlib import Path
import pytest
from align_nb.core import load_json
from align_nb.runner import run_notebook, _demo_notebook
from align_nb import warmkernel as wk

LIGHT = 'json'  # a zygote that preloads (almost) nothing: for tests of the mechanics, not of the import savings

PROBE = """import os, sys, json
import numpy as np, torch
from align_nb.core import save_json
torch.manual_seed(0); rng = np.random.default_rng(0)
import matplotlib.pyplot as plt
plt.plot([1, 2]); plt.show()
save_json(f'{run_dir}/metrics.json', {'x': x, 'cwd': os.getcwd(), 'probe': os.environ.get('PROBE_VAR'), 'threads': torch.get_num_threads(),
          'value': float(torch.randn(3).sum() + rng.normal()), 'pid': os.getpid(), 'ppid': os.getppid(),
          'jpy_parent': int(os.environ['JPY_PARENT_PID']), 'torch_was_imported_before_line_1': 'timm' in sys.modules,
          'backend': __import__('matplotlib').get_backend(), 'umask': os.umask(0o022),
          'tqdm_widget': 'tqdm.notebook' in [c.__module__ for c in __import__('tqdm.auto').auto.tqdm.__mro__],
          'pd_max_columns': __import__('pandas').get_option('display.max_columns')})"""


@pytest.fixture
def warm_dir(monkeypatch):
    d = tempfile.mkdtemp(prefix='anbw-', dir='/tmp')
    monkeypatch.setenv(wk.DIR_ENV, d)
    monkeypatch.setenv(wk.WARM_ENV, '1')
    yield Path(d)
    os.chmod(d, 0o700)  # (a test may have opened it up)
    wk.stop_zygotes()
    shutil.rmtree(d, ignore_errors=True)


def _run(nb, d, x=1, **env):
    old = {k: os.environ.get(k) for k in env}
    os.environ.update({k: str(v) for k, v in env.items()})
    try: r = run_notebook(nb, d, {'x': x})
    finally:
        for k, v in old.items():
            if v is None: os.environ.pop(k, None)
            else: os.environ[k] = v
    assert r['status'] == 'complete', r
    return load_json(Path(d) / 'metrics.json')


def _alive(pid):
    try: os.kill(pid, 0)
    except ProcessLookupError: return False
    try: return Path(f'/proc/{pid}/stat').read_text().split(') ')[1][0] != 'Z'  # a zombie has ended
    except OSError: return False


def _wait_gone(pid, s=10.0):
    t = time.time()
    while time.time() - t < s:
        if not _alive(pid): return True
        time.sleep(0.1)
    return False


def test_warm_and_cold_kernels_give_the_same_notebook_results(tmp_path, warm_dir):
    nb = _demo_notebook(tmp_path / 'probe.ipynb', PROBE)
    cold = _run(nb, tmp_path / 'cold', PROBE_VAR='a', ALIGN_NB_WARM_KERNELS='0')
    warm1 = _run(nb, tmp_path / 'warm1', PROBE_VAR='a')
    warm2 = _run(nb, tmp_path / 'warm2', x=2, PROBE_VAR='b')
    # same numbers, thread count, inline plotting backend and umask; each run in its own folder with its own environment
    for k in ('value', 'threads', 'backend', 'umask', 'tqdm_widget', 'pd_max_columns'): assert cold[k] == warm1[k] == warm2[k], k
    assert cold['tqdm_widget']  # tqdm.auto gives notebook progress bars (timm imported it in the zygote, before any kernel)
    assert cold['backend'] == 'module://matplotlib_inline.backend_inline'
    assert [m['cwd'] for m in (cold, warm1, warm2)] == [str((tmp_path / d).resolve()) for d in ('cold', 'warm1', 'warm2')]
    assert (warm1['probe'], warm2['probe'], warm2['x']) == ('a', 'b', 2)
    # a cold kernel is the child of the process that runs papermill and imports torch itself; a warm one is forked from
    # the zygote (timm already imported), one zygote for both warm runs, and every kernel is a process of its own
    assert cold['ppid'] == cold['jpy_parent'] and not cold['torch_was_imported_before_line_1']
    assert warm1['ppid'] != warm1['jpy_parent'] and warm1['ppid'] == warm2['ppid'] and warm1['torch_was_imported_before_line_1']
    assert len({cold['pid'], warm1['pid'], warm2['pid']}) == 3
    assert [load_json(tmp_path / d / 'params.json')['kernel_start'] for d in ('cold', 'warm1', 'warm2')] == ['cold', 'warm', 'warm']
    # the inline figure reached the executed notebook of the warm run
    outs = [o for c in json.loads((tmp_path / 'warm1' / 'notebook.ipynb').read_text())['cells'] for o in c.get('outputs', [])]
    assert any('image/png' in o.get('data', {}) for o in outs)


MPL_PROBE = """import os, sys
preloaded = 'matplotlib.pyplot' in sys.modules
import matplotlib, matplotlib.pyplot as plt, sklearn.linear_model
fig, ax = plt.subplots(); ax.plot([1, 2]); plt.close(fig)
from align_nb.core import save_json
save_json(f'{run_dir}/metrics.json', {'preloaded': preloaded, 'backend': matplotlib.get_backend(), 'ppid': os.getppid(),
          'linewidth': plt.rcParams['lines.linewidth'], 'seaborn_maps': 'rocket' in matplotlib.colormaps,
          'kmp': os.environ.get('KMP_DUPLICATE_LIB_OK')})"""


def test_preloaded_matplotlib_looks_as_in_a_cold_kernel(tmp_path, warm_dir, monkeypatch):
    monkeypatch.setenv(wk.PRELOAD_ENV, 'matplotlib.pyplot,sklearn.linear_model')
    nb = _demo_notebook(tmp_path / 'p.ipynb', MPL_PROBE)
    cold = _run(nb, tmp_path / 'cold', ALIGN_NB_WARM_KERNELS='0')
    warm = _run(nb, tmp_path / 'warm')
    agg = _run(nb, tmp_path / 'agg', MPLBACKEND='agg')  # the kernel's own backend choice, from the same zygote
    tk = _run(nb, tmp_path / 'tk', MPLBACKEND='TkAgg')  # an interactive backend with no display: pyplot falls back, as when cold
    (tmp_path / 'rc').mkdir(); (tmp_path / 'rc' / 'matplotlibrc').write_text('lines.linewidth: 7\n')
    rc = _run(nb, tmp_path / 'rc')  # a settings file in the kernel's folder: read, by a zygote of its own
    assert not cold['preloaded'] and warm['preloaded'] and agg['preloaded'] and rc['preloaded']
    assert cold['backend'] == warm['backend'] == rc['backend'] == 'module://matplotlib_inline.backend_inline' and agg['backend'] == 'agg'
    assert tk['backend'] == 'agg'  # (a cold kernel with MPLBACKEND=TkAgg and no display plots with agg too)
    assert cold['linewidth'] == warm['linewidth'] == agg['linewidth'] == 1.5 and rc['linewidth'] == 7
    assert warm['ppid'] == agg['ppid'] != rc['ppid']
    # seaborn is never preloaded (it registers colour maps), and what scikit-learn sets on import is set as in a cold kernel
    assert not any(m['seaborn_maps'] for m in (cold, warm, agg, rc))
    assert cold['kmp'] == warm['kmp'] == 'True'


def test_a_zygote_per_environment_key_and_the_kernels_own_thread_count(tmp_path, warm_dir, monkeypatch):
    monkeypatch.setenv(wk.PRELOAD_ENV, LIGHT)
    nb = _demo_notebook(tmp_path / 'p.ipynb', "import os, torch\nfrom align_nb.core import save_json\nfrom threadpoolctl import threadpool_info\n"
                                             "save_json(f'{run_dir}/metrics.json', {'ppid': os.getppid(), 'threads': torch.get_num_threads(), "
                                             "'omp': os.environ['OMP_NUM_THREADS']})")
    one = _run(nb, tmp_path / 'a', ALIGN_NB_THREADS=1)
    two = _run(nb, tmp_path / 'b', ALIGN_NB_THREADS=2)  # the runner sets OMP/MKL/OPENBLAS to 2: the same zygote, 2 threads
    other = _run(nb, tmp_path / 'c', ALIGN_NB_THREADS=1, TORCH_SHOW_CPP_STACKTRACES=1)  # read when torch is imported: another zygote
    assert (one['threads'], two['threads'], other['threads']) == (1, 2, 1) and two['omp'] == '2'
    assert one['ppid'] == two['ppid'] != other['ppid']
    assert len(list(warm_dir.glob('*.sock'))) == 2


def _start(km_env):
    "A warm kernel through jupyter_client (the way papermill starts one): (manager, client, kernel pid)."
    from jupyter_client.manager import KernelManager
    from align_nb.warmkernel import warm_argv
    km = KernelManager(kernel_name='python3')
    km.kernel_spec.argv = warm_argv(km.kernel_spec.argv)
    assert km.kernel_spec.argv[1:3] == ['-m', 'align_nb.warmkernel']
    km.start_kernel(env={**os.environ, **km_env})
    kc = km.client(); kc.start_channels(); kc.wait_for_ready(timeout=120)
    kc.execute('import os; print(os.getpid(), os.getppid())')
    pid = None
    while pid is None:
        m = kc.get_iopub_msg(timeout=30)
        if m['msg_type'] == 'stream': pid, ppid = map(int, m['content']['text'].split())
    assert ppid != km.provisioner.pid  # forked from the zygote, not a child of the launcher
    return km, kc, pid


def test_interrupt_reaches_the_kernel_and_the_kernel_keeps_its_state(warm_dir, monkeypatch):
    monkeypatch.setenv(wk.PRELOAD_ENV, LIGHT)
    km, kc, pid = _start({})
    try:
        kc.execute('a = 41', reply=True, timeout=30)
        mid = kc.execute('import time; time.sleep(60)')
        time.sleep(1.0)
        t = time.time(); km.interrupt_kernel()
        rep = kc.get_shell_msg(timeout=20)
        assert rep['parent_header']['msg_id'] == mid and rep['content']['status'] == 'error' and rep['content']['ename'] == 'KeyboardInterrupt'
        assert time.time() - t < 10
        assert kc.execute('print(a + 1)', reply=True, timeout=30)['content']['status'] == 'ok' and _alive(pid)
    finally:
        kc.stop_channels(); km.shutdown_kernel(now=True)
    assert _wait_gone(pid)


def test_a_killed_launcher_takes_its_kernel_with_it_and_exit_codes_pass_through(warm_dir, monkeypatch):
    monkeypatch.setenv(wk.PRELOAD_ENV, LIGHT)
    km, kc, pid = _start({})
    kc.stop_channels()
    os.kill(km.provisioner.pid, signal.SIGKILL)  # what a hard kill of the kernel does: the zygote kills the forked kernel
    assert _wait_gone(pid)
    km.cleanup_resources()
    # a kernel that exits with a status: its launcher exits with the same status
    km, kc, pid = _start({})
    kc.execute('import os; os._exit(7)')
    launcher = km.provisioner.process
    assert launcher.wait(timeout=30) == 7 and _wait_gone(pid)
    kc.stop_channels(); km.cleanup_resources()


def test_the_launcher_falls_back_to_a_cold_kernel_when_the_folder_is_not_private(tmp_path, warm_dir):
    os.chmod(warm_dir, 0o777)
    nb = _demo_notebook(tmp_path / 'p.ipynb', "import os, sys\nfrom align_nb.core import save_json\n"
                                             "save_json(f'{run_dir}/metrics.json', {'ppid': os.getppid(), 'jpy': int(os.environ['JPY_PARENT_PID']), 'timm': 'timm' in sys.modules})")
    m = _run(nb, tmp_path / 'a')
    assert m['ppid'] == m['jpy'] and not m['timm']  # the launcher became the kernel itself
    assert not list(warm_dir.glob('*.sock'))
    with pytest.raises(PermissionError, match='must belong to this user and be private'): wk.socket_dir()


def test_an_idle_zygote_exits_and_removes_its_socket(tmp_path, warm_dir, monkeypatch):
    monkeypatch.setenv(wk.PRELOAD_ENV, LIGHT)
    monkeypatch.setenv(wk.IDLE_ENV, '5')  # (1 s was too short: under load the zygote could be gone before the first check)
    nb = _demo_notebook(tmp_path / 'p.ipynb', "import os\nfrom align_nb.core import save_json\nsave_json(f'{run_dir}/metrics.json', {'ppid': os.getppid()})")
    z = _run(nb, tmp_path / 'a')['ppid']
    assert _alive(z) and len(list(warm_dir.glob('*.sock'))) == 1
    assert _wait_gone(z, 30)
    assert not list(warm_dir.glob('*.sock')) and not list(warm_dir.glob('*.pid'))
    assert _run(nb, tmp_path / 'b')['ppid'] != z  # the next kernel starts a new zygote


def _probe(out):
    "Called by run_call in a forked process: where it ran."
    Path(out).write_text(json.dumps({'pid': os.getpid(), 'ppid': os.getppid(), 'cwd': os.getcwd(), 'var': os.environ.get('PROBE_VAR')}))
    return 3


def _boom():
    raise ValueError('boom from the forked call')


def test_run_call_forks_the_call_with_this_process_s_setting_and_returns_its_status(tmp_path, warm_dir, monkeypatch, capfd):
    "The way align_nb.launch starts each torchrun rank: exit status, environment and folder of the caller; in-process when off."
    monkeypatch.setenv(wk.PRELOAD_ENV, LIGHT)
    monkeypatch.setenv('PROBE_VAR', 'seen'); monkeypatch.chdir(tmp_path)
    assert wk.run_call('test_warmkernel:_probe', [str(tmp_path / 'a.json')]) == 3
    a = json.loads((tmp_path / 'a.json').read_text())
    assert a['pid'] != os.getpid() and a['ppid'] != os.getpid() and a['cwd'] == str(tmp_path) and a['var'] == 'seen'
    assert wk.run_call('test_warmkernel:_boom') == 1
    assert 'ValueError: boom from the forked call' in capfd.readouterr().err
    monkeypatch.setenv(wk.WARM_ENV, '0')
    assert wk.run_call('test_warmkernel:_probe', [str(tmp_path / 'b.json')]) == 3
    assert json.loads((tmp_path / 'b.json').read_text())['pid'] == os.getpid()
    with pytest.raises(ValueError, match='boom'): wk.run_call('test_warmkernel:_boom')


def test_a_stopped_zygote_takes_no_new_kernels_and_lets_running_ones_finish(warm_dir, monkeypatch):
    monkeypatch.setenv(wk.PRELOAD_ENV, LIGHT)
    km, kc, pid = _start({})
    try:
        zygote = int(next(warm_dir.glob('*.pid')).read_text())
        assert wk.stop_zygotes() == 1
        t = time.time()
        while list(warm_dir.glob('*.sock')) and time.time() - t < 10: time.sleep(0.1)
        assert not list(warm_dir.glob('*.sock')) and _alive(zygote)  # no new kernels; still serving the running one
        assert kc.execute('print(6 * 7)', reply=True, timeout=30)['content']['status'] == 'ok' and _alive(pid)
    finally:
        kc.stop_channels(); km.shutdown_kernel(now=True)
    assert _wait_gone(pid) and _wait_gone(zygote)  # the last kernel ended: so does the zygote

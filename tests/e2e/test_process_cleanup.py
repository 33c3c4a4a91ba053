"""A killed runner leaves nothing behind: no job process, kernel, torchrun agent or rank keeps running (and writing)."""
import os, signal, subprocess, sys, textwrap, time
from pathlib import Path
import pytest
from align_nb.runner import demo_notebook

pytestmark = pytest.mark.e2e

SLOW_TASK = textwrap.dedent("""
    import os, time
    from pathlib import Path
    def slow(out):
        "A launched task that sleeps on every rank after saying where it runs."
        Path(out, f'rank{os.environ["RANK"]}.pid').write_text(str(os.getpid()))
        time.sleep(600)
        Path(out, 'rank_finished').write_text('a rank outlived its runner')
        return {}
""")

def _alive(pid:int) -> bool:
    "The process exists and is not a zombie."
    try: st = Path(f'/proc/{pid}/stat').read_text()
    except OSError: return False
    return st.rsplit(')', 1)[1].split()[0] != 'Z'

def _procs_mentioning(text:str) -> list:
    "Live processes whose command line holds `text`."
    out = []
    for p in Path('/proc').iterdir():
        if not p.name.isdigit() or int(p.name) == os.getpid(): continue
        try: cmd = (p / 'cmdline').read_bytes().replace(b'\0', b' ').decode(errors='replace')
        except OSError: continue
        if text in cmd and _alive(int(p.name)): out.append((int(p.name), cmd[:200]))
    return out

@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='uses /proc')
@pytest.mark.parametrize('workers', [1, 2])
def test_kill_9_of_the_runner_during_a_launched_2_rank_step_leaves_no_process(tmp_path, workers):
    mod = tmp_path / 'mod'; mod.mkdir(); (mod / 'slowtask.py').write_text(SLOW_TASK)
    runs = tmp_path / 'runs'; out = tmp_path / 'out'; out.mkdir()
    body = ("import os\nfrom pathlib import Path\nfrom align_nb.launch import launch\n"
            f"Path({str(out)!r}, 'kernel.pid').write_text(str(os.getpid()))\n"
            f"launch('slowtask:slow', {{'out': {str(out)!r}}}, run_dir, name='slow', nproc_per_node=2)\n")
    nb = demo_notebook(tmp_path / 'slow.ipynb', body)
    runner = (f"from align_nb.runner import Job, run_jobs\n"
              f"run_jobs([Job('slow', {str(nb)!r}, {str(runs / 'slow')!r}, {{'x': 1}}), Job('other', {str(nb)!r}, {str(runs / 'other')!r}, {{'x': 2}})],"
              f" verbose=False, workers={workers})\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(mod), *filter(None, [os.environ.get('PYTHONPATH')])]), OMP_NUM_THREADS='1')
    p = subprocess.Popen([sys.executable, '-c', runner], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        t0 = time.time()
        while not ((out / 'rank0.pid').exists() and (out / 'rank1.pid').exists()):
            assert p.poll() is None, p.stderr.read().decode()[-3000:]
            assert time.time() - t0 < 240, 'the ranks did not start in 240 s'
            time.sleep(0.5)
        pids = [int((out / f).read_text()) for f in ('kernel.pid', 'rank0.pid', 'rank1.pid')]
        assert all(map(_alive, pids)) and _procs_mentioning(str(runs))
        p.kill(); p.wait()  # kill -9 of the runner, in the middle of the launched step
        t1 = time.time()
        while time.time() - t1 < 10 and (any(map(_alive, pids)) or _procs_mentioning(str(runs))): time.sleep(0.2)
        left = [q for q in pids if _alive(q)] + _procs_mentioning(str(runs))
        assert not left, f'still running 10 s after the runner was killed: {left}'
        assert not (out / 'rank_finished').exists()
    finally:
        if p.poll() is None: p.kill()
        for q, _ in _procs_mentioning(str(tmp_path)):
            try: os.kill(q, signal.SIGKILL)
            except OSError: pass

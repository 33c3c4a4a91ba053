"""Runner: papermill execution, skipping complete runs, failures recorded without losing completed runs, the parallel
runner, one runner per job (two runners started together on one plan do every job exactly once)."""
import json, os, subprocess, sys, textwrap
from pathlib import Path
import nbformat, pytest
from align_nb.core import is_complete, load_json
from align_nb.core import file_lock, lock_path
from align_nb.runner import LOCK_NAME, Job, demo_notebook, folder_busy, run_jobs, run_notebook, run_status
from align_nb.cli import main

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e



def test_run_writes_notebook_params_provenance_metrics_and_completion(tmp_path):
    nb = demo_notebook(tmp_path / 'demo.ipynb')
    r = run_notebook(str(nb), tmp_path / 'run', {'x': 21})
    assert r['status'] == 'complete'
    d = tmp_path / 'run'
    assert load_json(d / 'metrics.json') == {'y': 42}
    p = load_json(d / 'params.json')
    assert p['parameters']['x'] == 21 and p['parameters']['run_dir'] == str(d.resolve())
    assert 'torch' in p['provenance']['packages'] and 'git' in p['provenance']
    executed = nbformat.read(d / 'notebook.ipynb', as_version=4)
    assert any('injected-parameters' in c.metadata.get('tags', []) for c in executed.cells)
    assert is_complete(d) and not (d / '.notebook.running.ipynb').exists()

def test_complete_runs_are_skipped_and_force_reruns(tmp_path):
    nb = demo_notebook(tmp_path / 'demo.ipynb')
    run_notebook(str(nb), tmp_path / 'run', {'x': 1})
    assert run_notebook(str(nb), tmp_path / 'run', {'x': 1})['status'] == 'skipped'
    assert load_json(tmp_path / 'run/metrics.json') == {'y': 2}
    assert run_notebook(str(nb), tmp_path / 'run', {'x': 1}, force=True)['status'] == 'complete'
    assert load_json(tmp_path / 'run/metrics.json') == {'y': 2}

def test_complete_run_with_other_parameters_runs_again(tmp_path, capsys):
    nb = demo_notebook(tmp_path / 'demo.ipynb')
    run_notebook(str(nb), tmp_path / 'run', {'x': 1})
    assert run_notebook(str(nb), tmp_path / 'run', {'x': 2})['status'] == 'complete'
    assert load_json(tmp_path / 'run/metrics.json') == {'y': 4} and load_json(tmp_path / 'run/params.json')['parameters']['x'] == 2
    assert 'other parameters (x)' in capsys.readouterr().out
    assert run_notebook(str(nb), tmp_path / 'run', {'x': 2})['status'] == 'skipped'

def test_failure_is_recorded_dependents_blocked_and_completed_runs_kept(tmp_path):
    ok = demo_notebook(tmp_path / 'ok.ipynb')
    bad = demo_notebook(tmp_path / 'bad.ipynb', "raise ValueError(f'broken {x}')")
    jobs = [Job('a', str(ok), tmp_path / 'a', {'x': 1}), Job('b', str(bad), tmp_path / 'b', {'x': 7}),
            Job('c', str(ok), tmp_path / 'c', {'x': 3}, depends=['b']), Job('d', str(ok), tmp_path / 'd', {'x': 4})]
    st = run_jobs(jobs, status_file=tmp_path / 'status.csv', verbose=False)
    assert list(st.status) == ['complete', 'failed', 'blocked', 'complete']
    f = load_json(tmp_path / 'b/FAILED.json')
    assert 'broken 7' in f['message'] and f['error'] == 'PapermillExecutionError'
    assert (tmp_path / 'b/notebook.failed.ipynb').exists() and not is_complete(tmp_path / 'b')
    assert not (tmp_path / 'c').exists()
    assert is_complete(tmp_path / 'a') and is_complete(tmp_path / 'd')
    # fix the notebook: a rerun skips the complete ones and completes the rest
    demo_notebook(tmp_path / 'bad.ipynb')
    st2 = run_jobs(jobs, verbose=False)
    assert list(st2.status) == ['skipped', 'complete', 'complete', 'skipped']
    assert not (tmp_path / 'b/FAILED.json').exists() and not (tmp_path / 'b/notebook.failed.ipynb').exists()
    s = run_status(tmp_path)
    assert set(s.status) == {'complete'} and len(s) == 4

def test_notebook_that_writes_no_metrics_is_not_complete(tmp_path):
    nb = demo_notebook(tmp_path / 'silent.ipynb', 'pass')
    r = run_notebook(str(nb), tmp_path / 'run', {})
    assert r['status'] == 'failed' and 'metrics.json' in r['error']
    assert not is_complete(tmp_path / 'run')

def test_cli_run_and_status(tmp_path, capsys):
    nb = demo_notebook(tmp_path / 'demo.ipynb')
    assert main(['run', str(nb), str(tmp_path / 'r'), '-p', 'x=5']) == 0
    assert load_json(tmp_path / 'r/metrics.json') == {'y': 10}
    assert main(['status', str(tmp_path)]) == 0
    assert 'complete' in capsys.readouterr().out


def test_run_made_with_other_threads_or_code_runs_again_from_an_empty_folder(tmp_path, monkeypatch, capsys):
    from align_nb.runner import run_signature
    monkeypatch.setenv('ALIGN_NB_THREADS', '1')
    nb = demo_notebook(tmp_path / 'demo.ipynb')
    run_notebook(str(nb), tmp_path / 'run', {'x': 1})
    sig = load_json(tmp_path / 'run/params.json')['signature']
    assert sig == run_signature(nb) and sig['threads'] == 1 and len(sig['code']) == 64
    (tmp_path / 'run' / 'leftover.txt').write_text('from the first run')
    assert run_notebook(str(nb), tmp_path / 'run', {'x': 1})['status'] == 'skipped'
    monkeypatch.setenv('ALIGN_NB_THREADS', '2')
    assert run_notebook(str(nb), tmp_path / 'run', {'x': 1})['status'] == 'complete'
    assert 'other CPU thread setting (1 -> 2)' in capsys.readouterr().out and not (tmp_path / 'run' / 'leftover.txt').exists()
    assert load_json(tmp_path / 'run/params.json')['signature']['threads'] == 2
    assert load_json(tmp_path / 'run/params.json')['provenance']['threads']['setting'] == 2
    demo_notebook(tmp_path / 'demo.ipynb', "from align_nb.core import save_json\nsave_json(f'{run_dir}/metrics.json', {'y': -x})")
    assert run_notebook(str(nb), tmp_path / 'run', {'x': 1})['status'] == 'complete'
    assert 'other code' in capsys.readouterr().out and load_json(tmp_path / 'run/metrics.json') == {'y': -1}
    from align_nb.core import set_threads; set_threads(1)

def test_importing_the_runner_imports_no_study():
    import subprocess, sys
    code = ("import sys, align_nb.runner; bad = [m for m in ('align_nb.real_demo', 'align_nb.fullscale', 'align_nb.toy_study') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def _write_study(tmp_path, monkeypatch, module, plan_name, help, signature, jobs_expr):
    "Write a user study module `module` into tmp_path (importable) that registers plan `plan_name` returning `jobs_expr`."
    (tmp_path / f'{module}.py').write_text(
        "from pathlib import Path\nfrom align_nb.runner import Job, register_plan\n"
        f"def plan({signature}):\n    return {jobs_expr}\n"
        f"register_plan({plan_name!r}, plan, {help!r})\n")
    monkeypatch.syspath_prepend(str(tmp_path))

def test_a_user_study_registers_its_plan_and_runs_through_the_cli(tmp_path, monkeypatch, capsys):
    nb = demo_notebook(tmp_path / 'demo.ipynb')
    _write_study(tmp_path, monkeypatch, 'my_study', 'mine', 'a study of my own', "runs_dir=None, extra=None",
                 f"[Job('one', {str(nb)!r}, Path(runs_dir) / 'my' / 'one', {{'x': (extra or {{}}).get('x', 3)}})]")
    assert main(['--plan-module', 'my_study', 'mine', '--runs-dir', str(tmp_path / 'runs'), '-p', 'x=4']) == 0
    assert load_json(tmp_path / 'runs/my/one/metrics.json') == {'y': 8}
    assert (tmp_path / 'runs/mine/status.csv').is_file()
    from align_nb.runner import plan_registry
    plan_registry().pop('mine')
    assert main(['--plan-module', 'no_such_study_module', 'mine']) == 2
    assert "plan module 'no_such_study_module': no such module" in capsys.readouterr().err

# ---- the parallel runner (run_jobs(workers=N), --jobs N) ----
_SLEEP_THEN_METRICS = ("import time\nfrom align_nb.core import save_json\ntime.sleep(x)\nsave_json(f'{run_dir}/metrics.json', {'y': x * 2})")

def _times(st, name):
    r = st.set_index('job').loc[name]
    return float(r.started_unix_s), float(r.ended_unix_s)

def test_a_failed_job_next_to_a_running_one(tmp_path):
    slow = demo_notebook(tmp_path / 'slow.ipynb', _SLEEP_THEN_METRICS)
    bad = demo_notebook(tmp_path / 'bad.ipynb', "raise ValueError(f'broken {x}')")
    ok = demo_notebook(tmp_path / 'ok.ipynb')
    jobs = [Job('slow', str(slow), tmp_path / 'slow', {'x': 4}), Job('bad', str(bad), tmp_path / 'bad', {'x': 7}),
            Job('after_bad', str(ok), tmp_path / 'after_bad', {'x': 1}, depends=['bad']),
            Job('after_after', str(ok), tmp_path / 'after_after', {'x': 2}, depends=['after_bad'])]
    st = run_jobs(jobs, status_file=tmp_path / 'status.csv', verbose=False, workers=2)
    assert list(st.job) == ['slow', 'bad', 'after_bad', 'after_after']  # plan order, whatever the finishing order
    assert list(st.status) == ['complete', 'failed', 'blocked', 'blocked']
    f = load_json(tmp_path / 'bad/FAILED.json')
    assert 'broken 7' in f['message'] and f['error'] == 'PapermillExecutionError' and not is_complete(tmp_path / 'bad')
    assert is_complete(tmp_path / 'slow') and load_json(tmp_path / 'slow/metrics.json') == {'y': 8}
    (s0, s1), (b0, b1) = _times(st, 'slow'), _times(st, 'bad')
    assert b0 < s1 and s0 < b1  # the failure happened while the other job was running
    blocked = st.set_index('job').error
    assert blocked['after_bad'] == "dependency failed: ['bad']" and blocked['after_after'] == "dependency failed: ['after_bad']"
    assert not (tmp_path / 'after_bad').exists()
    import pandas as pd
    csv = pd.read_csv(tmp_path / 'status.csv')
    assert list(csv.status) == ['complete', 'failed', 'blocked', 'blocked'] and csv.error[2] == "dependency failed: ['bad']"
    # a rerun (the notebook fixed) runs only the failed job and the blocked ones
    demo_notebook(tmp_path / 'bad.ipynb')
    st2 = run_jobs(jobs, verbose=False, workers=2)
    assert list(st2.status) == ['skipped', 'complete', 'complete', 'complete']
    assert not (tmp_path / 'bad/FAILED.json').exists() and load_json(tmp_path / 'after_after/metrics.json') == {'y': 4}

def test_two_independent_jobs_run_at_the_same_time(tmp_path):
    # each job announces itself, then waits for the other's announcement: one after the other, the first would time out
    body = ("import time\nfrom pathlib import Path\nfrom align_nb.core import save_json\nhere = Path(run_dir).parent\n"
            "(here / f'{x}.started').write_text('')\nother = here / f'{1 - x}.started'\nt0 = time.time()\n"
            "while not other.exists():\n    assert time.time() - t0 < 240, 'the other job never started while this one ran'\n    time.sleep(0.05)\n"
            "save_json(f'{run_dir}/metrics.json', {'y': x})")
    nb = demo_notebook(tmp_path / 'meet.ipynb', body)
    jobs = [Job('zero', str(nb), tmp_path / 'runs' / 'zero', {'x': 0}), Job('one', str(nb), tmp_path / 'runs' / 'one', {'x': 1})]
    st = run_jobs(jobs, verbose=False, workers=2)
    assert list(st.status) == ['complete', 'complete'], st.to_dict('records')
    (a0, a1), (b0, b1) = _times(st, 'zero'), _times(st, 'one')
    assert max(a0, b0) < min(a1, b1)  # the recorded intervals overlap

def test_the_longest_chain_starts_first(tmp_path):
    nb = demo_notebook(tmp_path / 'sleep.ipynb', _SLEEP_THEN_METRICS)
    jobs = [Job('a', str(nb), tmp_path / 'a', {'x': 1}, cost=1), Job('b', str(nb), tmp_path / 'b', {'x': 1}, cost=1),
            Job('c', str(nb), tmp_path / 'c', {'x': 1}, cost=1), Job('d', str(nb), tmp_path / 'd', {'x': 1}, depends=['c'], cost=50)]
    st = run_jobs(jobs, verbose=False, workers=2)
    assert set(st.status) == {'complete'}
    t = {n: _times(st, n) for n in 'abcd'}
    assert t['c'][0] < t['b'][0] and t['a'][0] < t['b'][0]  # c (heading the chain c -> d) and a start first; b waits for a free worker
    assert t['b'][0] >= min(t['a'][1], t['c'][1])

def test_the_cli_exits_1_when_a_job_of_the_plan_fails_and_its_dependents_are_blocked(tmp_path, monkeypatch, capsys):
    ok = demo_notebook(tmp_path / 'ok.ipynb')
    bad = demo_notebook(tmp_path / 'bad.ipynb', "raise ValueError(f'job input x={x} is not usable')")
    _write_study(tmp_path, monkeypatch, 'failing_study', 'failing', 'one job fails', "runs_dir=None",
                 f"[Job('good', {str(ok)!r}, Path(runs_dir) / 'good', {{'x': 1}}), Job('bad', {str(bad)!r}, Path(runs_dir) / 'bad', {{'x': 2}}),"
                 f" Job('after', {str(ok)!r}, Path(runs_dir) / 'after', {{'x': 3}}, depends=['bad'])]")
    try: rc = main(['--plan-module', 'failing_study', 'failing', '--runs-dir', str(tmp_path / 'runs'), '--jobs', '2'])
    finally:
        from align_nb.runner import plan_registry
        plan_registry().pop('failing')
    assert rc == 1
    import pandas as pd
    st = pd.read_csv(tmp_path / 'runs/failing/status.csv').set_index('job').status
    assert st.to_dict() == {'good': 'complete', 'bad': 'failed', 'after': 'blocked'}
    assert 'job input x=2 is not usable' in load_json(tmp_path / 'runs/bad/FAILED.json')['message']

def test_jobs_1_runs_one_after_another_in_plan_order(tmp_path, monkeypatch):
    nb = demo_notebook(tmp_path / 'sleep.ipynb', _SLEEP_THEN_METRICS)
    _write_study(tmp_path, monkeypatch, 'seq_study', 'seq', 'three independent jobs', "runs_dir=None",
                 f"[Job(n, {str(nb)!r}, Path(runs_dir) / n, {{'x': 0}}, cost=c) for n, c in (('a', 1), ('b', 9), ('c', 50))]")
    assert main(['--plan-module', 'seq_study', 'seq', '--runs-dir', str(tmp_path / 'runs'), '--jobs', '1']) == 0
    import pandas as pd
    st = pd.read_csv(tmp_path / 'runs/seq/status.csv')
    assert list(st.job) == ['a', 'b', 'c'] and set(st.status) == {'complete'}
    s, e = list(st.started_unix_s), list(st.ended_unix_s)
    assert s[0] < e[0] <= s[1] < e[1] <= s[2] < e[2]  # plan order, one at a time (the costs would put c first in parallel)
    from align_nb.runner import plan_registry
    plan_registry().pop('seq')

def test_a_worker_that_dies_is_recorded_as_a_failure_and_its_lock_is_taken_over(tmp_path):
    # the notebook kills the worker process that runs it (the process that started its kernel, JPY_PARENT_PID: the
    # kernel's parent): no result comes back
    killer = demo_notebook(tmp_path / 'kill.ipynb', "import os, signal, time\nos.kill(int(os.environ['JPY_PARENT_PID']), signal.SIGKILL)\ntime.sleep(30)")
    ok = demo_notebook(tmp_path / 'ok.ipynb')
    jobs = [Job('dies', str(killer), tmp_path / 'dies', {'x': 1}), Job('after', str(ok), tmp_path / 'after', {'x': 1}, depends=['dies']),
            Job('other', str(ok), tmp_path / 'other', {'x': 3})]
    st = run_jobs(jobs, verbose=False, workers=2)
    assert list(st.status) == ['failed', 'blocked', 'complete']
    assert 'ended without a result' in st.error[0] and 'signal 9' in st.error[0]
    assert load_json(tmp_path / 'dies/FAILED.json')['error'] == 'WorkerDied'
    jobs[0] = Job('dies', str(ok), tmp_path / 'dies', {'x': 1})  # fixed: the dead worker's lock ended with it
    assert list(run_jobs(jobs, verbose=False, workers=2).status) == ['complete', 'complete', 'skipped']

def test_lock_held_skipped_and_a_dead_holders_lock_is_free(tmp_path, capsys):
    nb = demo_notebook(tmp_path / 'demo.ipynb')
    d = tmp_path / 'run'
    # a lock held by a live process (this one, as if another runner): skip says so and does nothing
    with file_lock(d / LOCK_NAME, 'run folder'):
        assert folder_busy(d)
        r = run_notebook(str(nb), d, {'x': 1}, on_locked='skip')
        assert r['status'] == 'locked' and f'pid {os.getpid()}' in r['reason'] and not is_complete(d)
        assert 'skipping it' in capsys.readouterr().out
    # a lock file left by a dead process (its OS lock ended with it): nothing blocks the next runner
    lock_path(d / LOCK_NAME).parent.mkdir(parents=True, exist_ok=True)
    lock_path(d / LOCK_NAME).write_text(json.dumps({'pid': 2 ** 22 + 7, 'host': os.uname().nodename, 'since_utc': 'then'}))
    assert not folder_busy(d)
    r = run_notebook(str(nb), d, {'x': 1}, on_locked='skip')
    assert r['status'] == 'complete' and not folder_busy(d)

RUNNER = textwrap.dedent("""
    import sys, json
    from pathlib import Path
    from align_nb.runner import Job, run_jobs
    nb, root, mode = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    jobs = [Job(n, nb, root / n, {'x': i}) for i, n in enumerate(['a', 'b', 'c'])]
    jobs.append(Job('d', nb, root / 'd', {'x': 9}, depends=['a']))
    st = run_jobs(jobs, on_locked=mode, verbose=True)
    print('STATUS', json.dumps(dict(zip(st.job, st.status))))
""")

@pytest.mark.parametrize('mode', ['wait', 'skip'])
def test_two_runners_started_together_do_each_job_once(tmp_path, mode):
    # each job appends its name to a shared log, then sleeps: overlapping runners would log a job twice
    body = ("import time, os\nfrom align_nb.core import save_json\n"
            "with open(os.path.join(os.path.dirname(run_dir), 'log.txt'), 'a') as f: f.write(os.path.basename(run_dir) + '\\n')\n"
            "time.sleep(3)\nsave_json(f'{run_dir}/metrics.json', {'y': x})")
    nb = demo_notebook(tmp_path / 'slow.ipynb', body)
    root = tmp_path / 'runs'
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE='1', OMP_NUM_THREADS='1')
    procs = [subprocess.Popen([sys.executable, '-c', RUNNER, str(nb), str(root), mode], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    log = (root / 'log.txt').read_text().split()
    assert sorted(log) == ['a', 'b', 'c', 'd'], log  # every job ran exactly once
    for n in 'abcd': assert is_complete(root / n) and not folder_busy(root / n)
    st = [json.loads(o[0].split('STATUS ', 1)[1]) for o in outs]
    both = ''.join(o[0] for o in outs)
    for j in 'abcd':  # one runner ran it; the other skipped it (found it complete, or locked in 'skip' mode)
        assert sorted(s[j] for s in st)[0] == 'complete' and sorted(s[j] for s in st)[1] in (('skipped',) if mode == 'wait' else ('skipped', 'locked')), st
    if mode == 'wait': assert 'waiting for it' in both and 'the other runner is done' in both
    else: assert 'skipping it' in both and 'locked' in [s[j] for s in st for j in 'abcd']

"Every benchmark script runs at a tiny size and prints its side-by-side comparison (no timing thresholds here)."
import json, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e
CASES = {
    'bench_features.py': (['--n', '64', '--batch-size', '32', '--reps', '1'], 'ratio'),
    'bench_scoring.py': (['--n', '20000', '--loop-n', '500', '--rounds', '1'], 'x'),
    'bench_distill_step.py': (['--batch', '4', '--rounds', '2', '--img', '16'], 'overhead'),
    'bench_rsa_bootstrap.py': (['--n', '20', '--subjects', '3', '--n-boot', '30', '--ties'], 'ratio rsatoolbox / ours'),
    'bench_kmeans.py': (['--n', '6000', '--dim', '16', '--k', '5', '--passes', '1', '--chunk', '2048'], 'ours'),
    'bench_triplet_generation.py': (['--n', '6000', '--dim', '16', '--k', '5', '--n-triplets', '20000', '--chunk', '5000', '--floor-n', '3000',
                                     '--check-n', '4000', '--threads', '2'], "{'indices': true, 'similarities': true, 'filenames': true}"),
}

# Every script runs as `python bench/<script> ARGS` would run it (runpy, as __main__, its own argv; a SystemExit is its exit
# status), one after another in ONE fresh interpreter for all of them: torch and timm are imported once, not once per script.
RUN_ALL = """
import contextlib, io, json, runpy, sys, traceback
res = {}
for script, args in json.loads(sys.argv[1]):
    buf, rc = io.StringIO(), 0
    sys.argv = [script, *args]
    with contextlib.redirect_stdout(buf):
        try: runpy.run_path(script, run_name='__main__')
        except SystemExit as e: rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException: rc = 1; traceback.print_exc(file=buf)
    res[script] = {'rc': rc, 'stdout': buf.getvalue()}
print('BENCH-RESULTS ' + json.dumps(res))
"""


@pytest.fixture(scope='module')
def bench_runs(tmp_path_factory):
    "{script: {'rc', 'stdout'}} of every case, run in one subprocess (this file's tests run in one worker, see conftest.py)."
    cache = tmp_path_factory.mktemp('bench_cache')
    order = sorted(CASES)
    todo = []
    for script in order:
        args = CASES[script][0]
        if script in ('bench_kmeans.py', 'bench_triplet_generation.py'): args = args + ['--cache-dir', str(cache / script)]
        todo.append((str(ROOT / 'bench' / script), args))
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'HF_HUB_OFFLINE': '1'}
    out = subprocess.run([sys.executable, '-c', RUN_ALL, json.dumps(todo)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)
    line = [l for l in out.stdout.splitlines() if l.startswith('BENCH-RESULTS ')]
    assert out.returncode == 0 and line, out.stdout[-2000:] + out.stderr[-3000:]
    return {Path(k).name: v for k, v in json.loads(line[-1][len('BENCH-RESULTS '):]).items()}


@pytest.mark.parametrize('script', sorted(CASES))
def test_bench_script_runs_small_and_reports(script, bench_runs):
    r, word = bench_runs[script], CASES[script][1]
    assert r['rc'] == 0, r['stdout'][-3000:]
    assert word in r['stdout'].lower(), r['stdout'][-2000:]

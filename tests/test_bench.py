"Every benchmark script runs at a tiny size and prints its side-by-side comparison (no timing thresholds here)."
import os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    'bench_features.py': (['--n', '64', '--batch-size', '32', '--reps', '1'], 'ratio'),
    'bench_scoring.py': (['--n', '20000', '--loop-n', '500', '--rounds', '1'], 'x'),
    'bench_distill_step.py': (['--batch', '4', '--rounds', '2', '--img', '16'], 'overhead'),
    'bench_kernel_start.py': (['--rounds', '1'], 'ratio cold/warm'),
    'bench_kmeans.py': (['--n', '6000', '--dim', '16', '--k', '5', '--passes', '1', '--chunk', '2048'], 'ours'),
    'bench_triplet_generation.py': (['--n', '6000', '--dim', '16', '--k', '5', '--n-triplets', '20000', '--chunk', '5000', '--floor-n', '3000',
                                     '--check-n', '4000', '--threads', '2'], "{'indices': true, 'similarities': true, 'filenames': true}"),
}

@pytest.mark.parametrize('script', sorted(CASES))
def test_bench_script_runs_small_and_reports(script, tmp_path):
    args, word = CASES[script]
    if script in ('bench_kmeans.py', 'bench_triplet_generation.py'): args = args + ['--cache-dir', str(tmp_path)]
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'HF_HUB_OFFLINE': '1'}
    out = subprocess.run([sys.executable, str(ROOT / 'bench' / script), *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert word in out.stdout.lower(), out.stdout[-2000:]

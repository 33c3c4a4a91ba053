"""Tests of data-parallel distillation (2 CPU processes, gloo, launched by torchrun), the GPU speed options on CPU,
and the CPU dry run of bench/gpu_check.py."""
import os
os.environ['HF_HUB_OFFLINE'] = '1'
import json, socket, subprocess, sys, textwrap
from pathlib import Path
import numpy as np
import pytest
import torch

torch.set_num_threads(1)

from align_nb.core import is_complete, seed_everything
from align_nb.distill import Student
from helpers import DDP_VIT as VIT, ddp_ck_weights as ck_weights, ddp_close as close, ddp_run as run, ddp_weights as weights

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e
dist_ok = torch.distributed.is_available() and torch.distributed.is_gloo_available()

# the model, task and settings (a ViT without batch statistics, Adam eps 1e-3): tests/helpers.py, section data-parallel distillation






def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

WORKER = textwrap.dedent('''
    import sys, json, torch
    torch.set_num_threads(1)
    sys.path.insert(0, {tests!r})
    import helpers as T
    import torch.distributed as dist
    base = sys.argv[1]
    r = {{}}
    r['full'] = T.ddp_run(base + '/ddp_full')                                   # 4 steps, 2 ranks
    r['part'] = T.ddp_run(base + '/ddp_part', max_steps_this_call=1)            # 1 step, then stop (checkpoint)
    r['resumed_sp'] = T.ddp_run(base + '/sp_part')                              # a single-process checkpoint, finished here
    r['rank'], r['world'] = dist.get_rank(), dist.get_world_size()
    open(base + f'/rank{{r["rank"]}}.json', 'w').write(json.dumps(r))
    dist.destroy_process_group()
''')

@pytest.mark.skipif(not dist_ok, reason='torch.distributed with gloo is not available')
def test_two_ranks_match_one_process_and_checkpoints_move_between_them(tmp_path):
    # single process: uninterrupted reference, and a run stopped after 1 step (to be finished under 2 ranks)
    ref = run(tmp_path / 'sp_full')
    part = run(tmp_path / 'sp_part', max_steps_this_call=1)
    assert part['complete'] is False and part['step'] == 1
    sp1 = ck_weights(tmp_path / 'sp_part')
    # 2 CPU processes under torchrun (gloo, loopback only)
    (tmp_path / 'worker.py').write_text(WORKER.format(tests=str(ROOT / 'tests')))
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(ROOT), 'GLOO_SOCKET_IFNAME': 'lo'}
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2', '--master_addr=127.0.0.1', f'--master_port={free_port()}',
           str(tmp_path / 'worker.py'), str(tmp_path)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    r0, r1 = [json.loads((tmp_path / f'rank{i}.json').read_text()) for i in (0, 1)]
    assert (r0['world'], r0['rank'], r1['rank']) == (2, 0, 1)
    # (a) one step of 2 ranks x B/2 = one step of 1 process x B (the checkpoint after step 1) ...
    assert close(ck_weights(tmp_path / 'ddp_part'), sp1)
    # ... and the full 4-step run (decay to init included, wd=0.5) ends at the same weights
    assert close(weights(tmp_path / 'ddp_full'), weights(tmp_path / 'sp_full'))
    # logged losses are global-batch means, written once (rank 0 only)
    lg = [json.loads(l) for l in (tmp_path / 'ddp_full' / 'log.jsonl').read_text().splitlines()]
    ls = [json.loads(l) for l in (tmp_path / 'sp_full' / 'log.jsonl').read_text().splitlines()]
    assert [r['step'] for r in lg if 'loss' in r] == [1, 2, 3, 4]
    np.testing.assert_allclose([r['loss'] for r in lg if 'loss' in r], [r['loss'] for r in ls if 'loss' in r], atol=1e-5, rtol=0)
    assert r0['full']['val_acc'] == r1['full']['val_acc'] == pytest.approx(ref['val_acc'])
    # (b) the single-process checkpoint finished under 2 ranks = uninterrupted single process
    assert close(weights(tmp_path / 'sp_part'), weights(tmp_path / 'sp_full')) and is_complete(tmp_path / 'sp_part')
    # ... and the 2-rank checkpoint finished in one process = uninterrupted single process
    assert r0['part']['complete'] is False and r1['part']['step'] == 1
    seen = []
    run(tmp_path / 'ddp_part', callback=lambda st, row: seen.append(st))
    assert seen == [2, 3, 4] and close(weights(tmp_path / 'ddp_part'), weights(tmp_path / 'sp_full'))
    # the comparisons can fail: every step moves the weights far beyond the tolerance
    seed_everything(0); start = Student('vit_tiny_patch16_224', head_dim=8, model_kwargs=VIT, seed=0).state_dict()  # the runs' initial weights
    assert close(start, start) and not close(sp1, start)

# ---------------------------------------------------------------- speed options (CPU)





# ---------------------------------------------------------------- the GPU check, dry run on CPU

def test_gpu_check_dry_run_on_cpu_prints_and_writes_one_table(tmp_path):
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(ROOT), 'CUDA_VISIBLE_DEVICES': ''}
    p = subprocess.run([sys.executable, str(ROOT / 'bench' / 'gpu_check.py'), '--dry-run', '--out', str(tmp_path)], env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    sys.path.insert(0, str(ROOT / 'bench'))
    import gpu_check as G
    head = next(l for l in p.stdout.splitlines() if l.startswith('section'))
    assert 'DRY RUN' in p.stdout and head.split() == G.COLUMNS  # one table, every column (note last)
    res = json.loads((tmp_path / 'gpu_check.json').read_text())
    assert res['dry_run'] is True and res['columns'] == G.COLUMNS and res['images_per_step'] == 12
    rows = {(r['section'], r['option']): r for r in res['rows']}
    assert [o for s, o in rows if s == 'distill'] == [n for n, _ in G.DISTILL_OPTIONS]  # a row per speed option
    assert {s for s, _ in rows} == {'features', 'distill', 'e2e', 'ddp'}
    for (s, o), r in rows.items():
        if s == 'distill' and 'compile' in o: assert r['status'] == 'skipped' and 'CUDA only' in r['note']
        elif s == 'ddp': assert r['status'] == 'skipped'
        else:
            assert r['status'] == 'ok' and r['images_per_s'] > 0, r
            if s != 'features': assert r['proj_h_8gpu'] == pytest.approx(r['proj_h_1gpu'] / (8 * res['dp_efficiency_assumed']))
    assert rows[('distill', 'plain')]['proj_h_1gpu'] == pytest.approx(100_000 * rows[('distill', 'plain')]['step_ms'] / 1e3 / 3600)
    csv_rows = (tmp_path / 'gpu_check.csv').read_text().splitlines()
    assert csv_rows[0].split(',') == G.COLUMNS and len(csv_rows) == 1 + len(res['rows'])

def test_gpu_check_without_a_gpu_fails_clearly(tmp_path):
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(ROOT), 'CUDA_VISIBLE_DEVICES': ''}
    p = subprocess.run([sys.executable, str(ROOT / 'bench' / 'gpu_check.py'), '--out', str(tmp_path)], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and 'no CUDA GPU is visible' in p.stderr and '--dry-run' in p.stderr
    assert not (tmp_path / 'gpu_check.json').exists()

"""The full-scale study on 2 processes (gloo on CPU) through the runner: the teacher notebook's pool features sharded
over 2 ranks into one memory-mapped store, the distillation data-parallel over 2 ranks, metrics and per-rank logs in
the run folders; a rank that fails makes the job fail with that rank's log tail in FAILED.json."""
import dataclasses, os
os.environ['HF_HUB_OFFLINE'] = '1'
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
import torch
from align_nb.core import AlignNbError, is_complete, load_json
from align_nb.launch import rank_logs
from helpers import needs_data

pytestmark = pytest.mark.e2e

needs_gloo = pytest.mark.skipif(not (torch.distributed.is_available() and torch.distributed.is_gloo_available()),
                                reason='torch.distributed with gloo is not available')


def _study():
    import align_nb
    try: import align_nb.fullscale as fs  # the study's module after the real_demo split
    except ImportError: import align_nb.real_demo as fs
    return fs


@needs_data
@needs_gloo
def test_fullscale_on_two_processes_through_the_runner_and_a_failing_rank(fullscale_study, tmp_path, monkeypatch):
    "The run of fixture `fullscale_study` (`align-nb fullscale` with nproc_per_node=2); then its distillation job again with rank 1 failing."
    from align_nb.features import extract_features
    from align_nb.runner import run_jobs
    fs = _study()
    cfg = fullscale_study['cfg']
    assert cfg.nproc_per_node == 2 and fs.dry_run(cfg)['checks']['launch']['world_size'] == 2
    assert fullscale_study['rc'] == 0, fullscale_study['status'].to_string()
    runs = Path(cfg.runs_dir); t = runs / 'teacher'; d = runs / 'distill' / 'regnetx_002-alignet'
    # the teacher's pool features: 2 ranks, each its shards, one store equal to a single-process extraction
    lm = load_json(t / 'launch' / 'pool_features' / 'metrics.json')
    assert lm['world_size'] == 2 and sorted(lm['ranks']) == ['0', '1']
    done = [lm['ranks'][r]['result']['computed'] for r in ('0', '1')]
    assert done[0] and done[1] and not set(done[0]) & set(done[1])  # both ranks extracted, disjoint shards
    for r in (0, 1): assert f'=== rank {r} of 2' in rank_logs(t / 'launch' / 'pool_features')[r]['log'].read_text()
    from align_nb.study import study_backbone, load_pool
    model, tf, _ = study_backbone(cfg.teacher_backbone, cfg, None, role='teacher')
    torch.set_num_threads(1)
    ref = extract_features(model, load_pool(t), tf, batch_size=cfg.batch_size, progress=False)
    store = np.load(t / 'features' / 'pool.npy')
    assert store.shape == (200, ref.shape[1]) and np.array_equal(store, ref)
    assert load_json(t / 'metrics.json')['pool_features_launch']['world_size'] == 2
    # the distillations: data-parallel over 2 ranks, their metrics and logs collected into the run folders
    for v in ('alignet', 'unalignet'):
        dv = runs / 'distill' / f'regnetx_002-{v}'
        dm = load_json(dv / 'metrics.json')
        assert dm['launch']['world_size'] == 2 and dm['steps'] == 6 and dm['complete'] and 0 <= dm['val_acc'] <= 1
        assert load_json(dv / 'student' / 'config.json')['world_size'] == 2 and is_complete(dv / 'student')
        for r in (0, 1): assert f'=== rank {r} of 2' in rank_logs(dv / 'launch' / 'distill')[r]['log'].read_text()
        assert dm['monitor']['history']  # the learning monitor read the held-out accuracy from the log
    # a failing rank: the plan's alignet distillation job once more, into a folder of this test (the shared run stays
    # as it is), with rank 1 raising -> the runner records the job failed with rank 1's log tail; the teacher is skipped
    jobs = {j.name: j for j in fs.plan_fullscale(cfg)}
    job = dataclasses.replace(jobs['distill/regnetx_002-alignet'], run_dir=tmp_path / 'distill' / 'regnetx_002-alignet')
    # rank 1 of the launched distillation fails: a test-only sitecustomize (on PYTHONPATH of every process below this test)
    # replaces the task's function in the ranks only (torchrun sets RANK); the library has no fault-injection hook
    hook = tmp_path / 'hook'; hook.mkdir()
    (hook / 'sitecustomize.py').write_text(
        "import os\n"
        "if os.environ.get('RANK') == '1':\n"
        "    import align_nb.fullscale as fs\n"
        "    def _fail(**kw): raise RuntimeError('rank 1: failing on purpose (test sitecustomize)')\n"
        "    fs.fullscale_distill_task = _fail\n")
    monkeypatch.setenv('PYTHONPATH', os.pathsep.join([str(hook), *filter(None, [os.environ.get('PYTHONPATH')])]))
    st = run_jobs([jobs['teacher'], job], status_file=tmp_path / 'status.csv', verbose=False)
    assert st.status.tolist() == ['skipped', 'failed'], st.to_string()
    st = pd.read_csv(tmp_path / 'status.csv').set_index('job').status
    assert st['teacher'] == 'skipped' and st['distill/regnetx_002-alignet'] == 'failed'
    f = load_json(job.run_dir / 'FAILED.json')
    assert 'rank 1 of 2 failed' in f['message'] and 'failing on purpose' in f['message'] and '=== rank 1 of 2' in f['message']
    assert 'stdout.log' in f['message'] and not is_complete(job.run_dir)
    assert is_complete(d) and is_complete(t)  # the shared run is untouched


def test_fullscale_launch_fields_are_checked(tmp_path):
    fs = _study()
    with pytest.raises(AlignNbError, match='FullScaleConfig: nnodes=2 needs rdzv_endpoint'): fs.FullScaleConfig(nnodes=2, nproc_per_node=8)
    with pytest.raises(AlignNbError, match='FullScaleConfig: nproc_per_node must be >= 1'): fs.FullScaleConfig(nproc_per_node=0)
    with pytest.raises(AlignNbError, match='rdzv_backend must be one of'): fs.FullScaleConfig(nnodes=2, rdzv_endpoint='n0:29500', rdzv_backend='x')
    # the dry run: the paper's batch (512 triplets) must split evenly over the ranks; GPUs must exist for device cuda
    rep = fs.dry_run(fs.FullScaleConfig(nproc_per_node=3, device='cpu', runs_dir=str(tmp_path)), raise_on_error=False)
    assert any('batch_size 512 is not divisible by nproc_per_node x nnodes = 3' in p for p in rep['problems'])
    if torch.cuda.device_count() < 2:
        rep = fs.dry_run(fs.FullScaleConfig(nproc_per_node=2, device='cuda', runs_dir=str(tmp_path)), raise_on_error=False)
        assert any(f'nproc_per_node=2 with device' in p and 'visible GPU' in p for p in rep['problems'])
    # another process count: the same config file, so the runner reuses finished steps
    a = fs.plan_fullscale(fs.FullScaleConfig(runs_dir=str(tmp_path / 'r'), students=('resnet10t',), device='cpu'))
    b = fs.plan_fullscale(fs.FullScaleConfig(runs_dir=str(tmp_path / 'r'), students=('resnet10t',), device='cpu', nproc_per_node=4))
    assert a[0].parameters['config'] == b[0].parameters['config']

"""The full-scale study on 2 processes (gloo on CPU) through the runner: the teacher notebook's pool features sharded
over 2 ranks into one memory-mapped store, the distillation data-parallel over 2 ranks, metrics and per-rank logs in
the run folders; a rank that fails makes the job fail with that rank's log tail in FAILED.json."""
import os
os.environ['HF_HUB_OFFLINE'] = '1'
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
import torch
from align_nb.core import AlignNbError, is_complete, load_json
from test_fullscale import make_fullscale_inputs, needs_data

needs_gloo = pytest.mark.skipif(not (torch.distributed.is_available() and torch.distributed.is_gloo_available()),
                                reason='torch.distributed with gloo is not available')


def _study():
    import align_nb
    try: import align_nb.fullscale as fs  # the study's module after the realexp split
    except ImportError: import align_nb.realexp as fs
    return fs


@needs_data
@needs_gloo
def test_fullscale_on_two_processes_through_the_runner_and_a_failing_rank(tmp_path, monkeypatch):
    from align_nb.runner import main
    from align_nb.features import extract_features
    fs = _study()
    cfg = make_fullscale_inputs(tmp_path / 'in')
    cfg.variants, cfg.nproc_per_node = ('alignet',), 2
    assert fs.dry_run(cfg)['checks']['launch']['world_size'] == 2
    cfg.to_json(tmp_path / 'fs2.json')
    assert main(['fullscale', str(tmp_path / 'fs2.json')]) == 0
    runs = Path(cfg.runs_dir); t = runs / 'teacher'; d = runs / 'distill' / 'regnetx_002-alignet'
    # the teacher's pool features: 2 ranks, each its shards, one store equal to a single-process extraction
    lm = load_json(t / 'launch' / 'pool_features' / 'metrics.json')
    assert lm['world_size'] == 2 and sorted(lm['ranks']) == ['0', '1']
    done = [lm['ranks'][r]['result']['computed'] for r in ('0', '1')]
    assert done[0] and done[1] and not set(done[0]) & set(done[1])  # both ranks extracted, disjoint shards
    for r in (0, 1): assert f'=== rank {r} of 2' in (t / 'launch' / 'pool_features' / f'rank{r}.log').read_text()
    model, tf, _ = fs.study_backbone(cfg.teacher_backbone, cfg, None, role='teacher')
    torch.set_num_threads(1)
    ref = extract_features(model, fs.load_pool(t), tf, batch_size=cfg.batch_size, progress=False)
    store = np.load(t / 'features' / 'pool.npy')
    assert store.shape == (200, ref.shape[1]) and np.array_equal(store, ref)
    assert load_json(t / 'metrics.json')['pool_features_launch']['world_size'] == 2
    # the distillation: data-parallel over 2 ranks, its metrics and logs collected into the run folder
    dm = load_json(d / 'metrics.json')
    assert dm['launch']['world_size'] == 2 and dm['steps'] == 6 and dm['complete'] and 0 <= dm['val_acc'] <= 1
    assert load_json(d / 'student' / 'config.json')['world_size'] == 2 and is_complete(d / 'student')
    for r in (0, 1): assert f'=== rank {r} of 2' in (d / 'launch' / 'distill' / f'rank{r}.log').read_text()
    assert dm['monitor']['history']  # the learning monitor read the held-out accuracy from the log
    # a failing rank: rank 1 of the distillation raises -> the job is recorded failed with rank 1's log tail
    (d / 'COMPLETE.json').unlink(); (d / 'launch' / 'distill' / 'COMPLETE.json').unlink()
    monkeypatch.setenv('ALIGN_NB_FAIL_RANK', '1'); monkeypatch.setenv('ALIGN_NB_FAIL_TASK', 'distill')
    assert main(['fullscale', str(tmp_path / 'fs2.json')]) == 1
    st = pd.read_csv(runs / 'status.csv').set_index('job').status
    assert st['teacher'] == 'skipped' and st['distill/regnetx_002-alignet'] == 'failed'
    f = load_json(d / 'FAILED.json')
    assert 'rank 1 of 2 failed' in f['message'] and 'ALIGN_NB_FAIL_RANK=1' in f['message'] and '=== rank 1 of 2' in f['message']
    assert 'rank1.log' in f['message'] and not is_complete(d)

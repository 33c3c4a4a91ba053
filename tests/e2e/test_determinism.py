"""Same seed, same numbers: a tiny toyworld pipeline (toy pretraining, features, k-means triplets, distillation, the
evaluation suite) run in separate processes with empty caches, another outside thread count (OMP_NUM_THREADS, which
ALIGN_NB_THREADS overrides), scrambled global RNGs, and once more on a warm cache, gives bit-identical results."""
import json, os, subprocess, sys
from pathlib import Path
import pytest

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve()

def pipeline(cache, out, scramble:int) -> dict:
    "Run the tiny pipeline with caches under `cache` and run folders under `out`; every number and hash it produced."
    import random
    import numpy as np, torch
    from align_nb.core import seed_everything, hash_arrays, hash_state_dict
    from align_nb.toy_study import toy_world, world_features, evaluate_world
    from align_nb.backbones import pretrain_backbone, load_backbone_file, make_transform
    from align_nb.teacher import Teacher
    from align_nb.triplets import generate_triplets
    from align_nb.distill import DistillConfig, distill
    # any step that draws from a global RNG without seeding it shows up as a difference between runs
    random.seed(scramble); np.random.seed(scramble); torch.manual_seed(scramble)
    seed_everything(0)
    res = {'torch_threads': torch.get_num_threads()}
    world = toy_world(quick=True, seed=0, cache_dir=cache)
    w = pretrain_backbone('resnet', world.pool, 'basic_class', epochs=1, cache_dir=cache, progress=False)
    base = load_backbone_file(w)
    res['pretrained'] = hash_state_dict(base.state_dict())
    feats = world_features(base, world, cache_dir=cache, progress=False)
    res['features'] = hash_arrays(*[feats[k] for k in sorted(feats)])
    ident = Teacher.identity(feats['things'])
    trip = generate_triplets(ident.transform(feats['pool']), 240, k=4, seed=0, ids=world.pool.ids, teacher=ident, progress=False)
    train, val = trip.split(40, seed=0)
    res['triplets'] = hash_arrays(train.indices, train.similarities, val.indices, val.similarities)
    base.reset_classifier(0)
    tf = make_transform(base, input_size=(3, world.cfg.image_size, world.cfg.image_size))
    cfg = DistillConfig.toy_for('resnet', steps=3, batch_size=8, warmup=1, seed=0, eval_every=3, checkpoint_every=3, head_dim=16)
    met = distill(base, world.pool, train.indices, train.similarities, val.indices, val.similarities, cfg, Path(out) / 'student',
                  transform=tf, progress=False)
    res['distill_val_acc'], res['distill_val_loss'] = met['val_acc'], met['val_loss']
    student = load_backbone_file(Path(out) / 'student' / 'student_backbone.pth')
    res['student'] = hash_state_dict(student.state_dict())
    sf = world_features(student, world, cache_dir=cache, progress=False)
    metrics, tables = evaluate_world(sf, world, 'resnet', 'alignet', n_boot=20, seed=0, shots=(1,), n_repeats=2)
    res['tables'] = {k: v.to_json(orient='records', double_precision=15) for k, v in sorted(tables.items())}
    return res

def _run(tmp, name, env_extra, passes=1):
    env = {**os.environ, **env_extra, 'PYTHONHASHSEED': '0'}
    env.pop('ALIGN_NB_CACHE', None)
    r = subprocess.run([sys.executable, str(HERE), str(tmp / name), str(passes)], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])

def test_two_fresh_runs_and_a_warm_cache_run_give_identical_numbers(tmp_path):
    a = _run(tmp_path, 'a', {'ALIGN_NB_THREADS': '1', 'OMP_NUM_THREADS': '2'})
    b1, b2 = _run(tmp_path, 'b', {'ALIGN_NB_THREADS': '1', 'OMP_NUM_THREADS': '1'}, passes=2)  # b2: warm cache
    assert a['torch_threads'] == b1['torch_threads'] == 1
    for other in (b1, b2):
        diff = [k for k in a if a[k] != other[k]]
        assert not diff, f'differ in {diff}'
    assert b2['tables']['rsa'] == a['tables']['rsa'] and len(a['tables']) >= 5

if __name__ == '__main__':  # one process: `passes` runs of the pipeline in folder argv[1] (the later ones on a warm cache)
    root, passes = Path(sys.argv[1]), int(sys.argv[2])
    import torch  # imported first, so seed_everything has to change torch's own thread count
    outs = [pipeline(root / 'cache', root / f'run{i}', scramble=i + 1) for i in range(passes)]
    print(json.dumps(outs if passes > 1 else outs[0]))

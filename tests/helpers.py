"""Helpers shared by test files (tests/ is on sys.path: pytest puts the folder of tests/conftest.py there).

Inputs of the full-scale study (`make_fullscale_inputs`, `fullscale_two_process_study`), of the sharded feature store
(`launch_inputs`, `launch_reference`) and the tiny distillation run of the checkpoint tests (`tiny_distill`)."""
import os
os.environ.setdefault('HF_HUB_OFFLINE', '1')
import json, pickle, shutil
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
import torch
from align_nb.core import save_npz, shared_data_dir
from align_nb.fullscale import FullScaleConfig

DATA = shared_data_dir()
needs_data = pytest.mark.skipif(DATA is None or not (DATA / 'imagenet_sample').is_dir() or not (DATA / 'mur92').is_dir(),
                                reason='shared data folder absent')
# the shared ImageNet sample (the released-data tests build an official-layout release over it)
IMAGENET_SAMPLE = Path(__file__).resolve().parents[1].parent / 'shared' / 'data' / 'imagenet_sample' / 'train'
if not IMAGENET_SAMPLE.is_dir():
    IMAGENET_SAMPLE = (DATA / 'imagenet_sample' / 'train') if DATA else IMAGENET_SAMPLE

def _choose(emb, trip):
    "Odd one out of each triplet under a hidden embedding: the item left out of the most similar pair (position)."
    e = emb[trip]
    s = np.stack([(e[:, 0] * e[:, 1]).sum(1), (e[:, 0] * e[:, 2]).sum(1), (e[:, 1] * e[:, 2]).sum(1)], 1)
    return np.array([2, 1, 0])[s.argmax(1)]

def make_fullscale_inputs(root, n_concepts=24):
    "Write THINGS / Levels files in their documented formats (images taken from the shared ImageNet sample); return a small FullScaleConfig."
    import timm
    from align_nb.backbones import save_backbone
    root = Path(root); rng = np.random.default_rng(0)
    inet = DATA / 'imagenet_sample' / 'train'
    classes = sorted(p.name for p in inet.iterdir() if p.is_dir())
    firsts = [sorted((inet / c).iterdir())[0] for c in classes]
    # THINGS: concept ids, one image per concept named <concept>_<nn><letter>.jpg
    ids = [f'concept{i:02d}' for i in range(n_concepts)]
    (root / 'things').mkdir(parents=True)
    (root / 'things' / 'unique_id.txt').write_text('\n'.join(ids) + '\n')
    for i, c in enumerate(ids):
        (root / 'object_images' / c).mkdir(parents=True)
        shutil.copy(firsts[i], root / 'object_images' / c / f'{c}_01b.jpg')
    emb = rng.normal(size=(n_concepts, 4))
    def triplets(n):
        t = np.array([rng.choice(n_concepts, 3, replace=False) for _ in range(n)])
        odd = _choose(emb, t)
        return np.take_along_axis(t, np.array([[1, 2, 0], [0, 2, 1], [0, 1, 2]])[odd], 1)  # odd one out last
    np.savetxt(root / 'things' / 'trainset.txt', triplets(600), fmt='%d')
    np.savetxt(root / 'things' / 'validationset.txt', triplets(150), fmt='%d')
    rows = []
    for t in np.array([rng.choice(n_concepts, 3, replace=False) for _ in range(40)]):
        for s in range(5):
            noisy = emb + rng.normal(0, .7, emb.shape)
            rows.append([*(t + 1), _choose(noisy, t[None])[0] + 1, s])
    pd.DataFrame(rows).to_csv(root / 'things' / 'test_triplets.csv', sep='\t', header=False, index=False)
    # Levels: participants' trials over ImageNet-sample images (paths as in the pickle: any folder, ImageNet basename)
    names = [p.name for p in firsts[:60]]
    trials = {}
    for p in range(4):
        tr = []
        for j in range(30):
            a, b, c = rng.choice(len(names), 3, replace=False)
            kind = ['between_class', 'within_class', 'class_border'][j % 3]
            tr.append({'image1Path': f'imgs/{names[a]}', 'image2Path': f'imgs/{names[b]}', 'image3Path': f'imgs/{names[c]}',
                       'selected_image': f'imgs/{names[[a, b, c][j % 3]]}', 'exp_trial_type': 'exp_trial', 'triplet_type': kind, 'rt': 1.0 + j / 30})
        tr.append(dict(tr[0], exp_trial_type='catch_trial'))
        trials[f'participant{p}'] = tr
    with open(root / 'levels.pkl', 'wb') as f: pickle.dump(trials, f)
    # the teacher's backbone weights as a local file (offline: no hub)
    save_backbone(timm.create_model('resnet10t', num_classes=0), root / 'weights' / 'resnet10t.pth', name='resnet10t')
    return FullScaleConfig(
        things_triplets_dir=str(root / 'things'), things_images_dir=str(root / 'object_images'), things_ids=str(root / 'things' / 'unique_id.txt'),
        things_test_triplets=str(root / 'things' / 'test_triplets.csv'), imagenet_train_dir=str(DATA / 'imagenet_sample'),
        levels_pkl=str(root / 'levels.pkl'), mur92_dir=str(DATA / 'mur92'),
        teacher_backbone='resnet10t', weights_files={'resnet10t': str(root / 'weights' / 'resnet10t.pth')},
        students=('regnetx_002',), students_pretrained=False, image_size=32, pool_size=200, local_size=100,
        n_triplets=400, n_val_triplets=50, k=4, stream_triplets=True, teacher_lams=(0.1, 1.0), teacher={'max_epochs': 3, 'batch_size': 128},
        distill={'steps': 6, 'batch_size': 8, 'warmup': 1, 'eval_every': 3, 'checkpoint_every': 3, 'log_every': 1, 'num_workers': 0, 'head_dim': 32},
        runs_dir=str(root / 'runs'), figures_dir=str(root / 'figures'), device='cpu', batch_size=64,
        num_workers=1,  # feature extraction through a DataLoader worker, the path a GPU run takes (1: the machine has 2 cores)
        n_boot=100)  # bootstrap resamples of the evaluation's intervals (the default 1000 dominated this test's time)

def fullscale_two_process_study(d):
    """The small full-scale plan run through `align-nb fullscale` in folder `d` with 2 processes per heavy step (gloo on
    CPU), then run again with the same config. Writes `fullscale.json` (the config), `status_first.csv` and
    `status_rerun.csv` into `d`; returns both exit codes. Built once per pytest run (fixture `fullscale_study` in
    tests/conftest.py, which reads the folder back with `read_fullscale_study`) for tests/e2e/test_fullscale.py and
    tests/e2e/test_fullscale_launch.py (one run instead of two; the 1-process path runs end to end in
    tests/e2e/test_release.py and tests/e2e/test_realexp.py, through the same notebooks)."""
    from align_nb.cli import main
    cfg = make_fullscale_inputs(d / 'in')
    cfg.nproc_per_node = 2
    cfg.to_json(d / 'fullscale.json')
    rc = main(['fullscale', str(d / 'fullscale.json')])
    shutil.copy(Path(cfg.runs_dir) / 'status.csv', d / 'status_first.csv')
    rc2 = main(['fullscale', str(d / 'fullscale.json')])  # the same config again: every job but the evaluation skipped
    shutil.copy(Path(cfg.runs_dir) / 'status.csv', d / 'status_rerun.csv')
    return dict(rc=rc, rc_rerun=rc2)

def read_fullscale_study(d, codes):
    "What the tests read of the run `fullscale_two_process_study` left in `d`: the config, both exit codes and both status tables."
    return dict(cfg=FullScaleConfig.from_json(d / 'fullscale.json'), config_file=d / 'fullscale.json', rc=codes['rc'],
                status=pd.read_csv(d / 'status_first.csv'), rc_rerun=codes['rc_rerun'], status_rerun=pd.read_csv(d / 'status_rerun.csv'))

def launch_inputs(tmp_path, n=22, size=16):
    "A random uint8 image set saved as .npz and a small backbone weights file."
    import timm
    from align_nb.backbones import save_backbone
    arr = np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    save_npz(tmp_path / 'images.npz', images=arr)
    torch.manual_seed(0)
    save_backbone(timm.create_model('resnet10t', num_classes=0), tmp_path / 'net.pth', name='resnet10t')
    return arr

def launch_reference(tmp_path, arr, batch_size):
    from align_nb.backbones import load_backbone_file
    from align_nb.data import ArrayImages
    from align_nb.features import extract_features
    torch.set_num_threads(1)
    return extract_features(load_backbone_file(tmp_path / 'net.pth'), ArrayImages(arr), batch_size=batch_size, progress=False)

def tiny_task(n_img=12, n_trip=30):
    g = np.random.default_rng(0)
    ims = __import__('align_nb.data', fromlist=['ArrayImages']).ArrayImages(g.integers(0, 255, (n_img, 16, 16, 3), dtype=np.uint8))
    t = np.array([g.choice(n_img, 3, replace=False) for _ in range(n_trip)])
    return ims, t, g.normal(size=(n_trip, 3)).astype(np.float32)

def tiny_cfg(**kw):
    from align_nb.distill import DistillConfig
    return DistillConfig.toy(**{**dict(steps=4, batch_size=4, lr=1e-3, warmup=1, tau=10., head_dim=4, checkpoint_every=2, eval_every=4), **kw})

def tiny_distill(out, **kw):
    from align_nb.distill import distill
    ims, t, s = tiny_task()
    return distill('resnet10t', ims, t[:24], s[:24], t[24:], s[24:], tiny_cfg(), out, progress=False, **kw)

def clustered_pool(n=300, k=10, dim=12, seed=0):
    "Clustered float16-representable pool features (n, dim) float32 and their clusters."
    rng = np.random.default_rng(seed)
    g = rng.integers(0, k, n)
    f = (rng.normal(0, 1, (n, dim)) + 4 * rng.normal(0, 1, (k, dim))[g]).astype(np.float16).astype(np.float32)
    return f, g

# ---------------------------------------------------------------- data-parallel distillation (tests/e2e/test_ddp.py, tests/test_distill.py)
# A ViT without batch statistics: LayerNorm normalises each image on its own, so 2 ranks x B/2 is the same
# computation as 1 rank x B (a BatchNorm net normalises each rank's half separately and would not match).
# eps 1e-3 in DDP_CFG: Adam's first steps are ~sign(grad), which would turn float rounding in near-zero gradients into
# differences of 2*lr; a larger eps keeps the update a smooth function of the gradient, so the tolerance is meaningful.
DDP_VIT = dict(img_size=16, patch_size=4, depth=2, embed_dim=32, num_heads=2, num_classes=5)

DDP_CFG = dict(steps=4, batch_size=8, lr=3e-3, warmup=0, wd=0.5, tau=4., head_dim=8, eps=1e-3, checkpoint_every=2, eval_every=2, device='cpu')

def ddp_task(n_img=24, n_trip=48, size=16, seed=0):
    from align_nb.data import ArrayImages
    "Random images and triplets with teacher similarities from the mean brightness (odd one out last)."
    g = np.random.default_rng(seed)
    arr = g.integers(0, 256, (n_img, size, size, 3), dtype=np.uint8)
    b = arr.mean((1, 2, 3)) / 255
    t = np.array([g.choice(n_img, 3, replace=False) for _ in range(n_trip)])
    s = np.stack([-8 * np.abs(b[t[:, i]] - b[t[:, j]]) for i, j in ((0, 1), (0, 2), (1, 2))], 1).astype(np.float32)
    return ArrayImages(arr), t, s

def ddp_run(out, **kw):
    from align_nb.distill import DistillConfig, distill
    ims, t, s = ddp_task()
    return distill('vit_tiny_patch16_224', ims, t[:40], s[:40], t[40:], s[40:], DistillConfig.toy(**DDP_CFG), out,
                   model_kwargs=DDP_VIT, progress=False, **kw)

def ddp_weights(d):
    "Final backbone + head weights of a complete run folder."
    bb = torch.load(Path(d) / 'student_backbone.pth', weights_only=True); hd = torch.load(Path(d) / 'student_head.pth', weights_only=True)
    return {**{'bb.' + k: v for k, v in bb.items()}, **{'head.' + k: v for k, v in hd.items()}}

def ddp_ck_weights(d): return torch.load(Path(d) / 'checkpoint.pt', weights_only=True)['model']

def ddp_close(a, b, atol=1e-5):
    return a.keys() == b.keys() and all(torch.allclose(a[k].float(), b[k].float(), atol=atol, rtol=0) for k in a)

def ddp_losses(d): return [json.loads(l)['loss'] for l in (Path(d) / 'log.jsonl').read_text().splitlines() if 'loss' in json.loads(l)]


def resnet_and_images(n:int=20):
    "(a random-weights resnet10t, its 32x32 transform, n random uint8 images): the feature tests' setup."
    import numpy as np
    from align_nb.data import ArrayImages
    from align_nb.backbones import load_backbone, make_transform
    m = load_backbone('resnet10t')
    tf = make_transform(m, input_size=(3, 32, 32), crop_pct=1.0)
    return m, tf, ArrayImages(np.random.default_rng(0).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8))

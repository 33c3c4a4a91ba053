"""Demonstration: the CIFAR ResNet-20 student trained from official-layout AligNet files over the shared
ImageNet sample (32x32), once on a correct file and once on a copy whose images were rotated against their
similarities (odd one out no longer last). Held-out: correctly ordered rows over *other* images. `inspect` and the
learning monitor say what is wrong with the second file.

    python scripts/release_demo.py [--out /tmp/release_demo] [--steps 150]
"""
import argparse, dataclasses, json, os, shutil, sys
os.environ.setdefault('OMP_NUM_THREADS', '1')
from pathlib import Path
import numpy as np

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default='/tmp/release_demo'); ap.add_argument('--steps', type=int, default=150)
    ap.add_argument('--data-dir', default=None); ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--lr', type=float, default=2e-3); ap.add_argument('--wd', type=float, default=0.0); ap.add_argument('--eval-every', type=int, default=30)
    a = ap.parse_args(argv)
    import torch; torch.set_num_threads(1)
    from align_nb.core import shared_data_dir, seed_everything
    from align_nb.data import image_folder, ArrayImages
    from align_nb.real_demo import to_square_array, study_backbone
    from align_nb.features import extract_features
    from align_nb.triplets import generate_triplets
    from align_nb.distill import DistillConfig, distill
    from align_nb import release as R
    seed_everything(a.seed)
    data = Path(a.data_dir) if a.data_dir else shared_data_dir(required=True)
    sample = data / 'imagenet_sample' / 'train'
    out = Path(a.out); shutil.rmtree(out, ignore_errors=True); root = out / 'release'; root.mkdir(parents=True)
    ims = image_folder(sample); names = np.array(ims.ids)
    arr = to_square_array(ims, 32, progress=False)
    rng = np.random.default_rng(a.seed); perm = rng.permutation(len(names))
    tfds, arr = names[perm], arr[perm]  # a "tfds order" that is not the sorted order
    np.save(root / R.TFDS_LIST_NAME, tfds)
    pool = ArrayImages(arr, tfds.tolist())
    teacher, tf_t, _ = study_backbone('resnet56', None, data)
    f = np.asarray(extract_features(teacher, pool, tf_t, batch_size=128, progress=False), np.float32)
    np.savez(root / 'activations.npz', activations=f)  # "teacher activations", rows in tfds order
    tr_im, va_im = np.arange(300), np.arange(300, len(tfds))  # held-out rows use other images
    rs = f[rng.integers(0, len(f), (2000, 3))]; s = np.einsum('ij,ij->i', rs[:, 0], rs[:, 1])
    T = float(np.std(s) / 3)  # label temperature: soft labels neither uniform nor one-hot
    trn = generate_triplets(f[tr_im], 3000, 'cluster_border', k=10, ids=tfds[tr_im], temperature=T, seed=a.seed, progress=False)
    val = generate_triplets(f[va_im], 300, 'cluster_border', k=5, ids=tfds[va_im], temperature=T, seed=a.seed + 1, progress=False)
    files = {}
    for split, t in (('train', trn), ('val', val)):
        files[split] = R.write_official(t, root, 'uncertainty_distillation', split, 'cluster_border_10', tfds_filenames=root / R.TFDS_LIST_NAME)
    bad = R.write_broken_copies(files['train'], out / 'broken', rows=np.arange(len(trn)), kinds=('images_permuted',))['images_permuted'][0]
    runs = {}
    for name, train_file in (('correct', files['train']), ('misordered', bad)):
        rep = R.inspect_triplets(train_file, sample, root / R.TFDS_LIST_NAME, root / 'activations.npz', min_feature_agreement=0.9)
        print(f'\n=== inspect {name} ({train_file}) ===\n' + R.format_report(rep), flush=True)
        _, (ti, vi) = R.release_pool([train_file, files['val']], sample, root / R.TFDS_LIST_NAME)
        ts = np.asarray(R.ReleaseTriplets(train_file).similarities, np.float32); vs = np.asarray(R.ReleaseTriplets(files['val']).similarities, np.float32)
        base, tf, _ = study_backbone('resnet20', None, data)
        cfg = DistillConfig.toy(steps=a.steps, batch_size=32, lr=a.lr, warmup=15, wd=a.wd, tau=10.0, loss='kl', head_dim=128, seed=a.seed,
                                device='cpu', eval_every=a.eval_every, checkpoint_every=10_000)
        mon = R.LearningMonitor(len(vi), patience=a.steps // 2, file_report=rep, train_sims=ts, image_size=32, input_size=32, tau=cfg.tau)
        print(f'--- distill resnet20 on the {name} file ({len(ti)} rows; held-out: {len(vi)} correctly ordered rows over other images) ---', flush=True)
        res = distill(base, pool, ti, ts, vi, vs, cfg, out / 'runs' / name, transform=tf, progress=False, callback=mon)
        runs[name] = dict(val_acc_initial=res['val_acc_initial'], val_acc_final=res['val_acc'], n_val=len(vi), steps=a.steps,
                          monitor=mon.summary(), inspect_ok=rep['ok'], inspect_verdict=rep['verdict'])
    summary = dict(label_temperature=T, soft_label_entropy_nats=R.soft_label_entropy(np.asarray(R.ReleaseTriplets(files['train']).similarities)),
                   runs=runs, chance=1 / 3)
    (out / 'summary.json').write_text(json.dumps(summary, indent=1, default=float))
    print('\n' + json.dumps({k: {kk: v[kk] for kk in ('val_acc_initial', 'val_acc_final', 'n_val')} | {'warned_at': v['monitor']['warned_at']} for k, v in runs.items()}, indent=1))
    band = 1 / 3 + runs['correct']['monitor']['margin']  # chance plus 2 binomial s.e. (the monitor's band)
    ok = runs['correct']['val_acc_final'] > band and runs['misordered']['val_acc_final'] <= band and runs['misordered']['monitor']['warned_at'] is not None
    print('demo outcome:', 'as expected' if ok else 'NOT as expected', f'(correct file above the chance band {band:.3f}; misordered copy inside or below it, and the monitor warned)')
    return 0 if ok else 1

if __name__ == '__main__': sys.exit(main())

"""Paired comparison of the toyworld study's variants on the Levels-like triplets.

Reads a finished main job (`runs/<experiment>`), recomputes each model's per-answer correctness on the same
Levels-like trials (features from the cache, as the evaluation notebook made them), and prints, per backbone and
triplet kind, the accuracy difference AligNet - base and AligNet - UnAligNet with a 95% paired bootstrap interval
over triplets (all answers to a triplet, and all models' scores on it, resampled together).

    python tools/paired_levels.py [--runs runs/toyworld] [--n-boot 2000] [--csv figures/levels_paired.csv]
"""
import argparse, json
from pathlib import Path
import numpy as np, pandas as pd
from align_nb.core import seed_everything
from align_nb.experiment import toy_world, toy_base_backbone, world_features
from align_nb.backbones import load_backbone_file
from align_nb.evaluate import odd_one_out_accuracy, triplet_ids, bootstrap_ci

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--runs', default='runs/toyworld'); ap.add_argument('--n-boot', type=int, default=2000)
    ap.add_argument('--csv', default=None)
    a = ap.parse_args(argv)
    runs = Path(a.runs)
    rows = []
    for ev in sorted((runs / 'eval').glob('*-base')):
        backbone = ev.name[:-len('-base')]
        p = json.load(open(ev / 'params.json'))['parameters']
        seed_everything(p.get('seed', 0))
        world = toy_world(quick=p.get('quick', False), seed=p.get('seed', 0), cache_dir=p.get('cache_dir') or None)
        tr = world.levels_trials
        correct = {}
        for v in ('base', 'alignet', 'unalignet'):
            if v == 'base': w = toy_base_backbone(world, backbone, quick=p.get('quick', False), seed=p.get('seed', 0), cache_dir=p.get('cache_dir') or None)
            else: w = runs / 'distill' / f'{backbone}-{v}' / 'student' / 'student_backbone.pth'
            if not Path(w).exists(): break
            f = world_features(load_backbone_file(w), world, splits=('levels',), cache_dir=p.get('cache_dir') or None)['levels']
            correct[v] = odd_one_out_accuracy(f, tr).astype(np.float64)
        if len(correct) < 3: continue
        kinds = np.asarray(tr.kind)
        for kind in ['all'] + sorted(set(kinds.tolist())):
            m = np.ones(len(tr), bool) if kind == 'all' else kinds == kind
            g = triplet_ids(tr.items[m])
            for ref in ('base', 'unalignet'):
                d = correct['alignet'][m] - correct[ref][m]
                r = bootstrap_ci(d, a.n_boot, seed=0, groups=g, unit='triplets')
                rows.append(dict(backbone=backbone, kind=kind, comparison=f'alignet - {ref}', difference=r['value'], lo=r['lo'], hi=r['hi'],
                                 ci_over=r['ci_over'], n_triplets=r['n'], n_answers=int(m.sum())))
    df = pd.DataFrame(rows)
    with pd.option_context('display.width', 200, 'display.precision', 3): print(df.to_string(index=False))
    if a.csv: df.to_csv(a.csv, index=False)
    return df

if __name__ == '__main__': main()

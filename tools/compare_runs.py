#!/usr/bin/env python
"""Compare the headline measures of two figure folders (e.g. the committed `figures/` and a run with a changed recipe):
for each backbone, variant and measure, the earlier value with its 95% interval, the new value with its interval, and
whether the new value lies inside the earlier interval.

    python tools/compare_runs.py OLD_FIGURES_DIR NEW_FIGURES_DIR [--out table.csv]
    python tools/compare_runs.py --git-old HEAD figures      # the committed tables at a git revision vs a folder

Measures: Levels-like odd-one-out agreement per triplet kind (`levels_accuracy.csv`: 95% intervals over triplets),
RSA participant mean (`rsa.csv`: 95% intervals over stimuli), few-shot accuracy (`fewshot.csv`: 95% intervals over
repeats). Rows present in only one folder are listed, not dropped.
"""
from __future__ import annotations
import argparse, io, subprocess, sys
from pathlib import Path

TABLES = {  # file -> (key columns besides backbone/variant, value column, interval columns, measure name, interval unit)
    'levels_accuracy.csv': (['kind'], 'accuracy', ('lo', 'hi'), 'Levels odd-one-out agreement', 'triplets'),
    'rsa.csv': ([], 'r_subject_mean', ('lo', 'hi'), 'RSA Spearman, participant mean', 'stimuli'),
    'fewshot.csv': (['shots'], 'accuracy', ('lo', 'hi'), 'few-shot accuracy', 'repeats'),
}

def _read(src, name, git_rev=None):
    import pandas as pd
    if git_rev:
        try: txt = subprocess.run(['git', 'show', f'{git_rev}:{src}/{name}'], capture_output=True, text=True, check=True).stdout
        except subprocess.CalledProcessError as e: raise FileNotFoundError(f'git show {git_rev}:{src}/{name}: {e.stderr.strip()}') from None
        return pd.read_csv(io.StringIO(txt))
    p = Path(src) / name
    if not p.is_file(): raise FileNotFoundError(f'{p}: no such table (expected a figures folder written by the main job)')
    return pd.read_csv(p)

def compare(old_dir, new_dir, git_old=None):
    "One row per (measure, backbone, variant, key): old value [lo, hi], new value [lo, hi], inside the old interval."
    import pandas as pd
    out = []
    for name, (keys, val, (lo, hi), measure, unit) in TABLES.items():
        o, n = _read(old_dir, name, git_old), _read(new_dir, name)
        k = ['backbone', 'variant'] + keys
        m = o.merge(n, on=k, how='outer', suffixes=('_old', '_new'), indicator=True)
        for _, r in m.iterrows():
            row = dict(measure=measure, interval_over=unit, **{c: r[c] for c in k})
            row.update(old=r.get(f'{val}_old'), old_lo=r.get(f'{lo}_old'), old_hi=r.get(f'{hi}_old'),
                       new=r.get(f'{val}_new'), new_lo=r.get(f'{lo}_new'), new_hi=r.get(f'{hi}_new'),
                       present={'both': 'both', 'left_only': 'old only', 'right_only': 'new only'}[r['_merge']])
            row['new_inside_old_interval'] = bool(row['old_lo'] <= row['new'] <= row['old_hi']) if row['present'] == 'both' else None
            out.append(row)
    return pd.DataFrame(out)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('old', nargs='?', help='earlier figures folder (or, with --git-old, its path in the repository)')
    ap.add_argument('new', help='new figures folder')
    ap.add_argument('--git-old', metavar='REV', help='read the earlier tables from this git revision (old defaults to figures)')
    ap.add_argument('--out', help='also write the comparison as CSV')
    a = ap.parse_args(argv)
    old = a.old or 'figures'
    try: df = compare(old, a.new, a.git_old)
    except (FileNotFoundError, ValueError) as e: print(f'compare_runs: {e}', file=sys.stderr); return 2
    if a.out: df.to_csv(a.out, index=False)
    f = lambda v: '' if v != v or v is None else f'{v:.3f}'
    for (measure, unit), g in df.groupby(['measure', 'interval_over'], sort=False):
        print(f'\n{measure} (95% intervals over {unit}): old [lo, hi] -> new [lo, hi]; * = new value outside the old interval')
        for _, r in g.iterrows():
            show = lambda v: str(int(v)) + ' shots' if isinstance(v, float) and v.is_integer() else str(v)
            key = ' '.join(show(r[c]) for c in ('backbone', 'variant', 'kind', 'shots') if c in r and r[c] == r[c])
            if r['present'] != 'both': print(f'  {key:<32} {r["present"]}'); continue
            flag = ' ' if r['new_inside_old_interval'] else '*'
            print(f'  {key:<32} {f(r["old"])} [{f(r["old_lo"])}, {f(r["old_hi"])}] -> {f(r["new"])} [{f(r["new_lo"])}, {f(r["new_hi"])}] {flag}')
    both = df[df['present'] == 'both']
    print(f'\n{int(both["new_inside_old_interval"].sum())} of {len(both)} new values lie inside the earlier 95% interval')
    return 0

if __name__ == '__main__':
    sys.exit(main())

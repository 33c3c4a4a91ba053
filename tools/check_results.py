#!/usr/bin/env python
"""Compare a fresh run's results table with the committed one: the largest absolute difference per column and overall.

    python tools/check_results.py FRESH_RESULTS_CSV [--committed figures/results.csv] [--tol 0]

Rows are matched on the text columns (backbone, variant); every numeric column is compared. Exit status 0 when every
difference is at most the tolerance (and both tables have the same rows and columns), 1 otherwise, 2 for unreadable
input. Runs with the same seed, code and thread setting (`$ALIGN_NB_THREADS`, recorded in each run's `params.json`)
on the same machine type are bit-identical, so the default tolerance is 0.
"""
from __future__ import annotations
import argparse, math, sys
from pathlib import Path

def read_table(path):
    "A results CSV as a pandas DataFrame, naming the file in any error."
    import pandas as pd
    p = Path(path)
    if not p.is_file(): raise FileNotFoundError(f'{p}: no such results table')
    try: df = pd.read_csv(p)
    except Exception as e: raise ValueError(f'{p}: not a readable CSV ({type(e).__name__}: {e})') from None
    if df.empty: raise ValueError(f'{p}: no rows')
    return df

def compare_tables(fresh, committed, keys=None) -> dict:
    "Largest |fresh - committed| per numeric column (with the row), overall, and rows/columns present in only one table."
    import numpy as np, pandas as pd
    keys = list(keys) if keys else [c for c in committed.columns if not pd.api.types.is_numeric_dtype(committed[c])]
    for name, df in (('fresh', fresh), ('committed', committed)):
        miss = [k for k in keys if k not in df.columns]
        if miss: raise ValueError(f'{name} table lacks the key column(s) {miss}')
        dup = df[df.duplicated(keys, keep=False)]
        if len(dup): raise ValueError(f'{name} table: rows repeat for {keys} = {dup[keys].iloc[0].tolist()}')
    f, c = fresh.set_index(keys), committed.set_index(keys)
    num = [col for col in c.columns if pd.api.types.is_numeric_dtype(c[col])]
    only_fresh_cols = sorted(set(f.columns) - set(c.columns)); only_committed_cols = sorted(set(c.columns) - set(f.columns))
    only_fresh_rows = [list(r) if isinstance(r, tuple) else [r] for r in f.index.difference(c.index)]
    only_committed_rows = [list(r) if isinstance(r, tuple) else [r] for r in c.index.difference(f.index)]
    rows = c.index.intersection(f.index)
    per_col, overall = {}, None
    for col in num:
        if col not in f.columns: continue
        a = pd.to_numeric(f.loc[rows, col], errors='coerce').to_numpy(np.float64)
        b = c.loc[rows, col].to_numpy(np.float64)
        d = np.abs(a - b)
        d[np.isnan(a) & np.isnan(b)] = 0.0  # both missing: equal
        d[np.isnan(a) ^ np.isnan(b)] = math.inf  # one missing: as different as can be
        if not len(d): continue
        i = int(np.argmax(d))
        key = rows[i] if isinstance(rows[i], tuple) else (rows[i],)
        per_col[col] = {'max_abs_diff': float(d[i]), 'row': dict(zip(keys, key)), 'fresh': float(a[i]), 'committed': float(b[i])}
        if overall is None or d[i] > overall['max_abs_diff']: overall = {'column': col, **per_col[col]}
    return {'keys': keys, 'n_rows_compared': int(len(rows)), 'per_column': per_col, 'overall': overall,
            'only_fresh_columns': only_fresh_cols, 'only_committed_columns': only_committed_cols,
            'only_fresh_rows': only_fresh_rows, 'only_committed_rows': only_committed_rows}

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('fresh', help="the fresh run's results.csv")
    ap.add_argument('--committed', default=str(Path(__file__).resolve().parents[1] / 'figures' / 'results.csv'),
                    help='the reference table (default: figures/results.csv of this checkout)')
    ap.add_argument('--tol', type=float, default=0.0, help='largest allowed absolute difference (default 0: identical)')
    ap.add_argument('--keys', nargs='+', default=None, help='columns that identify a row (default: the non-numeric columns)')
    a = ap.parse_args(argv)
    try:
        rep = compare_tables(read_table(a.fresh), read_table(a.committed), a.keys)
    except (FileNotFoundError, ValueError) as e:
        print(f'check_results: {e}', file=sys.stderr); return 2
    print(f'fresh {a.fresh} vs committed {a.committed}: {rep["n_rows_compared"]} rows matched on {rep["keys"]}; '
          f'tolerance {a.tol:g} (absolute difference, in each column\'s own unit)')
    print('largest |fresh - committed| per column:')
    w = max([len(k) for k in rep['per_column']] + [6])
    for col, d in rep['per_column'].items():
        row = ', '.join(f'{k}={v}' for k, v in d['row'].items())
        print(f'  {col:<{w}}  {d["max_abs_diff"]:.6g}  at {row}  (fresh {d["fresh"]:.6g}, committed {d["committed"]:.6g})')
    ok = True
    for what in ('only_fresh_rows', 'only_committed_rows', 'only_fresh_columns', 'only_committed_columns'):
        if rep[what]: ok = False; print(f'MISMATCH: {what.replace("_", " ")}: {rep[what]}')
    o = rep['overall']
    if o is None: print('MISMATCH: no numeric column to compare'); return 1
    row = ', '.join(f'{k}={v}' for k, v in o['row'].items())
    print(f'overall largest difference: {o["max_abs_diff"]:.6g} in {o["column"]} at {row} '
          f'(fresh {o["fresh"]:.6g}, committed {o["committed"]:.6g})')
    if o['max_abs_diff'] > a.tol: ok = False
    print('PASS: within tolerance' if ok else f'FAIL: beyond tolerance {a.tol:g} or tables differ in shape')
    return 0 if ok else 1

if __name__ == '__main__': sys.exit(main())

"""The README's headline table, computed from the committed figures (never typed in).

    python tools/readme_table.py            # print the table
    python tools/readme_table.py --check    # exit 1 when README.md does not hold exactly this table

Rows: coarse (`between_class`) Levels-like agreement per backbone from `figures/levels_accuracy.csv`, base / AligNet /
UnAligNet with their intervals, and the paired differences of `figures/levels_paired.csv` (same answers, triplets
resampled once for all models).
"""
import sys
from pathlib import Path
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
NAMES = {'resnet': 'resnet (resnet10t)', 'regnet': 'regnet (regnetx_002)', 'vit': 'vit (ViT-tiny, patch 8)'}

def table(figures=ROOT / 'figures') -> str:
    "The markdown table of coarse agreement and its paired differences."
    acc = pd.read_csv(Path(figures) / 'levels_accuracy.csv')
    acc = acc[acc.kind == 'between_class'].set_index(['backbone', 'variant'])
    pair = pd.read_csv(Path(figures) / 'levels_paired.csv')
    pair = pair[pair.kind == 'between_class'].set_index(['backbone', 'comparison'])
    ci = lambda r: f'{r.accuracy:.3f} [{r.lo:.3f}, {r.hi:.3f}]'
    d = lambda r: f'{r.difference:+.3f} [{r.lo:+.3f}, {r.hi:+.3f}]'
    rows = ['| backbone | base | AligNet | UnAligNet | AligNet − base (paired) | AligNet − UnAligNet (paired) |', '|---|---|---|---|---|---|']
    for b in [b for b in NAMES if b in acc.index.get_level_values(0)]:
        rows.append(f'| {NAMES[b]} | {ci(acc.loc[(b, "base")])} | {ci(acc.loc[(b, "alignet")])} | {ci(acc.loc[(b, "unalignet")])} '
                    f'| {d(pair.loc[(b, "alignet - base")])} | {d(pair.loc[(b, "alignet - unalignet")])} |')
    return '\n'.join(rows)

if __name__ == '__main__':
    t = table()
    if '--check' in sys.argv[1:]:
        ok = t in (ROOT / 'README.md').read_text()
        print('README.md holds the table computed from figures/' if ok else 'README.md does not hold this table (update nbs/index.ipynb):\n' + t)
        sys.exit(0 if ok else 1)
    print(t)

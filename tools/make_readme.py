"""Make README.md from nbs/index.ipynb (nbdev's `readme_nb`), without quarto.

    python tools/make_readme.py            # write README.md
    python tools/make_readme.py --check    # exit 1 when README.md is not what this script makes

nbdev's own `nbdev_readme` renders the same notebook with quarto (it still works where quarto is installed, but its
output differs in details); this script is the project's generator and the test suite checks README.md against it.
The notebook holds only markdown cells (it is the documentation site's home page too): they are joined with one blank
line between cells, below a line saying where the text comes from. A code cell, or an output, is an error here.
"""
import argparse, json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = '<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->\n\n'


def readme_text(nb_path=ROOT / 'nbs' / 'index.ipynb'):
    "The README text made from the markdown cells of `nb_path`."
    nb = json.loads(Path(nb_path).read_text())
    parts = []
    for i, c in enumerate(nb['cells']):
        src = ''.join(c['source']) if isinstance(c['source'], list) else c['source']
        if c['cell_type'] != 'markdown':
            if c['cell_type'] == 'code' and not src.strip(): continue
            raise SystemExit(f'{nb_path}: cell {i} is a {c["cell_type"]} cell; the README source holds markdown cells only')
        if src.strip(): parts.append(src.strip('\n'))
    if not parts: raise SystemExit(f'{nb_path}: no markdown cells')
    return HEADER + '\n\n'.join(parts) + '\n'


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--check', action='store_true', help='compare instead of writing; exit 1 when they differ')
    ap.add_argument('--notebook', default=str(ROOT / 'nbs' / 'index.ipynb'))
    ap.add_argument('--readme', default=str(ROOT / 'README.md'))
    a = ap.parse_args(argv)
    want, path = readme_text(a.notebook), Path(a.readme)
    have = path.read_text() if path.exists() else None
    if a.check:
        if have != want:
            import difflib
            diff = list(difflib.unified_diff((have or '').splitlines(), want.splitlines(), str(path), 'made from ' + a.notebook, lineterm='', n=1))
            print('\n'.join(diff[:40]))
            sys.exit(f'{path} is not what tools/make_readme.py makes from {a.notebook}: edit the notebook, then run '
                     '`python tools/make_readme.py`')
        print(f'{path} is in sync with {a.notebook}')
        return
    if have != want:
        path.write_text(want)
        print(f'wrote {path} from {a.notebook}')
    else:
        print(f'{path} already in sync with {a.notebook}')


if __name__ == '__main__':
    main()

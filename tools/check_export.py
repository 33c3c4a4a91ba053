"""Fail when align_nb/ differs from what `nbdev_export` makes from nbs/ (run in a temporary copy)."""
import filecmp, shutil, subprocess, sys, tempfile
from pathlib import Path

root = Path(__file__).resolve().parents[1]
with tempfile.TemporaryDirectory() as d:
    d = Path(d)
    shutil.copytree(root / 'nbs', d / 'nbs')
    shutil.copy(root / 'settings.ini', d / 'settings.ini')
    shutil.copytree(root / 'align_nb', d / 'align_nb', ignore=shutil.ignore_patterns('__pycache__'))
    subprocess.run([sys.executable, '-c', 'from nbdev.doclinks import nbdev_export; nbdev_export()'], cwd=d, check=True)
    ours = {p.relative_to(root / 'align_nb') for p in (root / 'align_nb').rglob('*.py')}
    made = {p.relative_to(d / 'align_nb') for p in (d / 'align_nb').rglob('*.py')}
    bad = sorted(str(p) for p in ours ^ made)
    bad += sorted(str(p) for p in ours & made if not filecmp.cmp(root / 'align_nb' / p, d / 'align_nb' / p, shallow=False))
    if bad:
        sys.exit('align_nb/ is out of sync with nbs/ (run nbdev_export and commit): ' + ', '.join(bad))
print('align_nb/ is in sync with nbs/')

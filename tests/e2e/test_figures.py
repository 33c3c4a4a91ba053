"Executed papers are committed: figures/papers/ is neither git-ignored nor inside the folder nbdev_clean strips."
import subprocess
import pytest

pytestmark = pytest.mark.e2e

def test_published_papers_are_neither_ignored_nor_cleaned(root):
    "figures/papers/ is committed: not git-ignored, and outside the folder nbdev_clean strips (nbs/)."
    if not (root / '.git').exists(): pytest.skip('not a git checkout')
    for p in ('figures/papers/figures.ipynb', 'figures/papers/eval_resnet-base.ipynb', 'figures/real/papers/evaluate.ipynb'):
        r = subprocess.run(['git', 'check-ignore', '-q', p], cwd=root)
        assert r.returncode == 1, p  # 1: not ignored
    from configparser import ConfigParser
    cp = ConfigParser(); cp.read(root / 'settings.ini')
    nbs = (root / cp['DEFAULT']['nbs_path']).resolve()
    assert not (root / 'figures' / 'papers').resolve().is_relative_to(nbs)

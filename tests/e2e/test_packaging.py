"The package in fresh interpreters: `import align_nb` stays light; the wheel ships the library and the paper notebooks."
import json, subprocess, sys, zipfile
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e

def test_import_align_nb_is_light():
    mods = sorted(p.stem for p in (ROOT / 'align_nb').glob('*.py') if not p.stem.startswith('_'))
    code = 'import sys, importlib\n' + ''.join(f'importlib.import_module("align_nb.{m}")\n' for m in mods) + \
           'print(json.dumps(sorted(m for m in ("torch","timm","sklearn","rsatoolbox","matplotlib","seaborn","papermill") if m in sys.modules)))'
    out = subprocess.run([sys.executable, '-c', 'import json\n' + code], capture_output=True, text=True, cwd='/')
    assert out.returncode == 0, out.stderr
    heavy = json.loads(out.stdout.strip().splitlines()[-1])
    # timm registers models at import time only where a module needs it (realdata's CIFAR ResNets); torch is never needed
    assert 'torch' not in heavy or 'realdata' in mods, heavy
    assert not {'matplotlib', 'seaborn', 'papermill', 'sklearn', 'rsatoolbox'} & set(heavy), heavy



def test_wheel_contains_library_and_paper_notebooks(tmp_path):
    out = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(tmp_path), str(ROOT)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    whl = next(tmp_path.glob('align_nb-*.whl'))
    names = zipfile.ZipFile(whl).namelist()
    assert 'align_nb/core.py' in names and 'align_nb/runner.py' in names
    papers = {Path(n).name for n in names if n.startswith('align_nb/paper/') and n.endswith('.ipynb')}
    assert papers == {p.name for p in (ROOT / 'nbs' / 'paper').glob('*.ipynb')}
    ep = [n for n in names if n.endswith('entry_points.txt')]
    assert ep and 'align-nb = align_nb.runner:main' in zipfile.ZipFile(whl).read(ep[0]).decode()

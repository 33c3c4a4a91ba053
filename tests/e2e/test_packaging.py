"""The built wheel ships the library and the papers, declares the ranges and installs beside the tested stack without replacing it; importing every module stays light."""
import configparser, json, os, re, shlex, subprocess, sys, zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
import pytest, yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e

from test_packaging import _settings  # noqa: E402  (tests/ is on sys.path)

def test_import_align_nb_is_light():
    mods = sorted(p.stem for p in (ROOT / 'align_nb').glob('*.py') if not p.stem.startswith('_'))
    code = 'import sys, importlib\n' + ''.join(f'importlib.import_module("align_nb.{m}")\n' for m in mods) + \
           'print(json.dumps(sorted(m for m in ("torch","timm","sklearn","rsatoolbox","matplotlib","seaborn","papermill") if m in sys.modules)))'
    out = subprocess.run([sys.executable, '-c', 'import json\n' + code], capture_output=True, text=True, cwd='/')
    assert out.returncode == 0, out.stderr
    heavy = json.loads(out.stdout.strip().splitlines()[-1])
    # modules that define torch classes (realdata's CIFAR ResNets, distill's student) import torch and timm at the top
    assert not {'matplotlib', 'seaborn', 'papermill', 'sklearn', 'rsatoolbox'} & set(heavy), heavy
    # `import align_nb` alone imports none of them: its entry points are imported on first use
    out = subprocess.run([sys.executable, '-c', 'import json, sys, align_nb\n' + code.splitlines()[-1]], capture_output=True, text=True, cwd='/')
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [], out.stdout

# the tests of the wheel run in one xdist worker, one after another: the wheel is built once, and two builds never write
# the checkout's build/ and align_nb.egg-info at the same time (--dist loadfile: one file, one worker)
WHEEL_GROUP = pytest.mark.xdist_group('wheel')

@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    "align_nb's wheel, built from this checkout (no dependencies, no build isolation: offline)."
    d = tmp_path_factory.mktemp('wheel')
    out = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(d), str(ROOT)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    return next(d.glob('align_nb-*.whl'))

@WHEEL_GROUP
def test_wheel_contains_library_and_paper_notebooks(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert 'align_nb/core.py' in names and 'align_nb/runner.py' in names
    papers = {Path(n).name for n in names if n.startswith('align_nb/paper/') and n.endswith('.ipynb')}
    assert papers == {p.name for p in (ROOT / 'nbs' / 'paper').glob('*.ipynb')}
    ep = [n for n in names if n.endswith('entry_points.txt')]
    assert ep and 'align-nb = align_nb.cli:main' in zipfile.ZipFile(wheel).read(ep[0]).decode()

@WHEEL_GROUP
def test_wheel_declares_the_settings_ini_ranges(wheel):
    req, dev = _settings()
    meta = next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith('.dist-info/METADATA'))
    deps = [Requirement(l.split(':', 1)[1].strip()) for l in zipfile.ZipFile(wheel).read(meta).decode().splitlines()
            if l.startswith('Requires-Dist:')]
    runtime = {canonicalize_name(d.name): d.specifier for d in deps if d.marker is None}
    assert runtime == {canonicalize_name(Requirement(r).name): Requirement(r).specifier for r in req}
    extra = {canonicalize_name(d.name): d.specifier for d in deps if d.marker is not None and d.marker.evaluate({'extra': 'dev'})}
    assert extra == {canonicalize_name(Requirement(r).name): Requirement(r).specifier for r in dev}

@WHEEL_GROUP
@pytest.mark.e2e
def test_wheel_installs_beside_the_tested_stack_without_replacing_it(wheel, tmp_path):
    "pip, asked to install the wheel into this environment (the constraints.txt stack: torch ...), would install align_nb only."
    report = tmp_path / 'report.json'
    # no constraints, links or configuration of the caller's; no PYTHONPATH, and not in the checkout, whose align_nb.egg-info
    # (written by the wheel build) pip would take for an installed align_nb 0.1.0 and keep instead of the wheel
    env = {**{k: v for k, v in os.environ.items() if not k.startswith('PIP_') and k != 'PYTHONPATH'}, 'PIP_CONFIG_FILE': os.devnull}
    # --upgrade: install the wheel in place of the editable align_nb 0.1.0 that scripts/env.sh installs, so that pip resolves
    # the wheel's own requirements; only-if-needed: a dependency is replaced only if the installed version is outside the range;
    # --no-index: each one must be satisfied by what is installed (pip fails rather than download one)
    out = subprocess.run([sys.executable, '-m', 'pip', 'install', '--dry-run', '--upgrade', '--upgrade-strategy', 'only-if-needed',
                          '--no-index', '--disable-pip-version-check', '--report', str(report), str(wheel)],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    would = [(i['metadata']['name'], i['metadata']['version']) for i in json.loads(report.read_text())['install']]
    assert [canonicalize_name(n) for n, _ in would] == ['align-nb'], would

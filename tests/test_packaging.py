"The package installs what settings.ini pins, environment.yml agrees, imports stay light, the wheel ships the papers."
import configparser, json, re, shlex, subprocess, sys, zipfile
from importlib.metadata import version
from pathlib import Path
import pytest, yaml

ROOT = Path(__file__).resolve().parents[1]

def _settings():
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(ROOT / 'settings.ini')
    c = cfg['DEFAULT']
    return shlex.split(c['requirements']), shlex.split(c['dev_requirements'])

def test_environment_yml_pins_the_settings_ini_stack():
    req, dev = _settings()
    env = yaml.safe_load((ROOT / 'environment.yml').read_text())
    pips = [d for d in env['dependencies'] if isinstance(d, dict)][0]['pip']
    assert sorted(p for p in pips if not p.startswith('-e')) == sorted(req + dev)
    assert '-e .' in pips
    py = [d for d in env['dependencies'] if isinstance(d, str) and d.startswith('python=')]
    assert py == ['python=3.11']

def test_every_requirement_is_pinned_exactly_and_installed_at_that_version():
    req, dev = _settings()
    for r in req + dev:
        if r == 'packaging': continue
        name, _, pin = r.partition('==')
        assert pin, f'{r} is not pinned with =='
        assert version(name) == pin, f'{name}: installed {version(name)}, settings.ini pins {pin}'

def test_nbdev_2_series():
    assert version('nbdev').startswith('2.')

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

def test_readme_has_exactly_two_setup_commands_and_ci_calls_the_test_one():
    readme = (ROOT / 'README.md').read_text()
    block = re.search(r'## Set up and run\n(.*?)\n## ', readme, re.S).group(1)
    cmds = re.findall(r'```(?:bash|sh)?\n(.*?)```', block, re.S)
    lines = [l for c in cmds for l in c.strip().splitlines() if l.strip() and not l.strip().startswith('#')]
    assert lines == ['bash scripts/main.sh', 'bash scripts/test.sh']
    assert '`bash scripts/docs.sh`' in block  # the docs site is named in the prose, not as a third set-up command
    assert 'bash scripts/test.sh' in (ROOT / '.ci/run').read_text()

def test_paper_notebooks_have_one_parameters_cell_with_run_dir():
    from align_nb.runner import notebook_parameters, paper_dir
    nbs = sorted(paper_dir().glob('*.ipynb'))
    assert nbs
    for nb in nbs:
        assert 'run_dir' in notebook_parameters(nb), nb

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
    assert ep and 'align-nb = align_nb.cli:main' in zipfile.ZipFile(whl).read(ep[0]).decode()

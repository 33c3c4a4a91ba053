"""settings.ini declares compatible ranges, constraints.txt pins the tested stack inside them (scripts/env.sh and
environment.yml install with it), the wheel installs beside that stack without replacing any of it, imports stay light,
the wheel ships the papers."""
import configparser, json, os, re, shlex, subprocess, sys, zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
import pytest, yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
# dev requirements pinned exactly in settings.ini on purpose (the reasons are comments there and in constraints.txt)
DELIBERATE_PINS = {'jsonschema', 'playwright'}

def _settings():
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(ROOT / 'settings.ini')
    c = cfg['DEFAULT']
    return shlex.split(c['requirements']), shlex.split(c['dev_requirements'])

def _constraints():
    "constraints.txt as {canonical name: version}; every line (but comments) must be `name==version`."
    pins = {}
    for line in (ROOT / 'constraints.txt').read_text().splitlines():
        line = line.strip()
        if not line or line.startswith('#'): continue
        m = re.fullmatch(r'([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)', line)
        assert m, f'constraints.txt: {line!r} is not `name==version`'
        name = canonicalize_name(m[1])
        assert name not in pins, f'constraints.txt pins {name} twice'
        pins[name] = m[2]
    return pins

def _installed(name):
    try: return version(name)
    except PackageNotFoundError: return None

def test_settings_ini_declares_ranges_with_lower_bounds():
    req, dev = _settings()
    for r in req + dev:
        q = Requirement(r)
        if canonicalize_name(q.name) in DELIBERATE_PINS:
            assert [s.operator for s in q.specifier] == ['=='], r
            continue
        if q.name == 'packaging': continue
        ops = {s.operator for s in q.specifier}
        assert '>=' in ops, f'{r}: no lower bound'
        assert not ops & {'==', '===', '~='}, f'{r}: pinned in settings.ini (exact versions belong in constraints.txt)'
    # runtime requirements have no upper bound: installing align_nb must not downgrade a newer torch, numpy ...
    assert not [r for r in req if '<' in r], req
    assert 'nbdev>=2.4,<3' in dev  # nbdev 3 no longer reads settings.ini

def test_constraints_pin_every_requirement_inside_its_range():
    req, dev = _settings()
    pins = _constraints()
    assert 'align-nb' not in pins
    for r in req + dev:
        q = Requirement(r)
        pin = pins.get(canonicalize_name(q.name))
        assert pin, f'constraints.txt does not pin {q.name}'
        assert q.specifier.contains(pin, prereleases=True), f'constraints.txt pins {q.name}=={pin}, outside settings.ini\'s {r}'
    assert pins['jsonschema'] == '4.23.0' and pins['playwright'] == '1.65.2'

def test_every_requirement_is_installed_at_the_constraints_version():
    req, dev = _settings()
    pins = _constraints()
    for r in req + dev:
        name = Requirement(r).name
        assert _installed(name) == pins[canonicalize_name(name)], f'{name}: installed {_installed(name)}, constraints.txt pins {pins[canonicalize_name(name)]}'
    # the rest of the environment too (packages for another platform, e.g. CUDA libraries on macOS, are not installed)
    wrong = {n: (v, _installed(n)) for n, v in pins.items() if _installed(n) not in (None, v)}
    assert not wrong, f'installed versions differ from constraints.txt (pinned, installed): {wrong}'

def test_environment_yml_installs_the_constraints():
    env = yaml.safe_load((ROOT / 'environment.yml').read_text())
    pips = [d for d in env['dependencies'] if isinstance(d, dict)][0]['pip']
    assert pips == ['-c constraints.txt', '-e .[dev]']  # the same install as scripts/env.sh
    py = [d for d in env['dependencies'] if isinstance(d, str) and d.startswith('python=')]
    assert py == ['python=3.11']

def test_env_sh_installs_with_the_constraints_and_reinstalls_when_they_change():
    sh = (ROOT / 'scripts' / 'env.sh').read_text()
    assert 'cons="$root/constraints.txt"' in sh
    assert re.search(r'want=.*"\$cons".*sha256sum', sh), 'the stamp must hash constraints.txt'
    assert re.search(r'pip install -q -e "\$root\[dev\]" -c "\$cons"', sh)

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

# the tests of the wheel run in one xdist worker, one after another: the wheel is built once, and two builds never write
# the checkout's build/ and align_nb.egg-info at the same time (test_packaging.py is one of conftest's SPLIT_FILES)
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

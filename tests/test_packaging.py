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

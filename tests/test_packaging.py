"The package installs what settings.ini pins, environment.yml agrees, nbdev 2, the README's commands, the papers' parameters cells."
import configparser, re, shlex
from importlib.metadata import version
from pathlib import Path
import yaml

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

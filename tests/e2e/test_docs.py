"""README and documentation site through their tools: make_readme --check, the strict site build (pandoc, mkdocs),
and the browser checks in headless Chromium (the site, a quick paper in JupyterLab)."""
import json, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tools'))
import docs_site, make_readme  # noqa: E402

pytestmark = pytest.mark.e2e

def test_readme_is_what_make_readme_makes_from_index_ipynb():
    out = subprocess.run([sys.executable, str(ROOT / 'tools' / 'make_readme.py'), '--check'], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (ROOT / 'README.md').read_text() == make_readme.readme_text()

def test_readme_check_fails_when_the_notebook_changes(tmp_path):
    nb = json.loads((ROOT / 'nbs' / 'index.ipynb').read_text())
    nb['cells'][0]['source'] = ['# align_nb\n', '\n', 'changed']
    p = tmp_path / 'index.ipynb'; p.write_text(json.dumps(nb))
    out = subprocess.run([sys.executable, str(ROOT / 'tools' / 'make_readme.py'), '--check', '--notebook', str(p)],
                         capture_output=True, text=True)
    assert out.returncode == 1 and 'is not what tools/make_readme.py makes' in out.stderr

def test_strict_build_fails_on_a_broken_markdown_link(tmp_path):
    src = tmp_path / 'src'; src.mkdir()
    (src / 'index.md').write_text('# Home\n\nSee [the API](library/missing.md).\n')
    with pytest.raises(docs_site.DocsError, match='strict'):
        docs_site.mkdocs_build([{'Home': 'index.md'}], src, tmp_path / 'site')

def _build_site(d):
    "Build the site strictly into `d`/site (sources in `d`/src); return its pages."
    return docs_site.build(site_dir=d / 'site', src_dir=d / 'src')

@pytest.fixture(scope='session')
def built_site(tmp_path_factory):
    "(site folder, pages) of one strict site build per pytest run, shared by the tests (and xdist workers) that read it."
    from conftest import once_per_run
    return once_per_run(tmp_path_factory, 'docs_site', _build_site, lambda d, pages: (d / 'site', pages))

@pytest.mark.skipif(os.environ.get('ALIGN_NB_SKIP_DOCS') == '1', reason='ALIGN_NB_SKIP_DOCS=1')
def test_site_builds_strictly_with_every_page(built_site):
    site, pages = built_site
    lib = sorted(p.stem for p in (ROOT / 'nbs').glob('[0-9][0-9]_*.ipynb'))
    assert {'index.html', 'figures.html', 'about.html'} <= set(pages)
    assert sorted(Path(p).stem for p in pages if p.startswith('library/')) == lib
    papers = docs_site.find_papers()
    for _, nb, _, _ in papers:   # every paper notebook is a page, at its repository path
        assert str(nb.relative_to(ROOT).with_suffix('.html')) in pages, nb
    home = (site / 'index.html').read_text()
    assert 'bash scripts/docs.sh' in home and 'Set up and run' in home
    data = (site / 'library' / '01_data.html').read_text()
    assert 'participant id per trial' in data            # a docment, generated from the library
    fig = (site / 'figures.html').read_text()
    assert 'figures/levels_accuracy.png' in fig and (site / 'figures' / 'levels_accuracy.png').exists()

def _browser_missing():
    chromium = os.environ.get('ALIGN_NB_CHROMIUM', '/usr/bin/chromium')
    if not Path(chromium).exists(): return f'no chromium at {chromium} (apt-get install chromium, or set ALIGN_NB_CHROMIUM)'
    try: import playwright  # noqa: F401
    except ImportError: return 'playwright is not installed (pip install playwright; it drives the system chromium, no download)'
    return None

@pytest.fixture
def browser():
    """Chromium and playwright for the browser checks. Missing, they skip the check on a developer's machine and fail it
    in CI (`CI=true`: .ci/run installs Debian's chromium; playwright is a dev requirement), so CI never reports green
    without them. ALIGN_NB_SKIP_BROWSER=1 skips them on purpose."""
    if os.environ.get('ALIGN_NB_SKIP_BROWSER') == '1': pytest.skip('ALIGN_NB_SKIP_BROWSER=1')
    why = _browser_missing()
    if why is None: return
    if os.environ.get('CI', '').lower() == 'true':
        pytest.fail(f'CI=true and the browser check cannot run: {why}. .ci/run installs Debian\'s chromium when /usr/bin/chromium is missing.', pytrace=False)
    pytest.skip(why)

def _browser_check(*args):
    return subprocess.run([sys.executable, str(ROOT / 'tools' / 'browser_check.py'), *map(str, args)],
                          capture_output=True, text=True, timeout=2400)

def test_browser_check_site(browser, built_site, tmp_path):
    "The built site's home, a library page and a paper page load in Chromium without JavaScript errors or broken images."
    out = _browser_check('--skip-lab', '--site', built_site[0], '--out', tmp_path / 'shots')  # the run's one strict build (built_site)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    shots = {p.name for p in (tmp_path / 'shots').glob('*.png')}
    assert {'site_index.png', 'site_library_03_evaluate.png'} <= shots and any(s.startswith('site_paper_') for s in shots)

def test_browser_check_jupyterlab_quick_paper(browser, tmp_path):
    "JupyterLab runs the evaluation paper (quick) from the Run menu with no error output and no stderr warning box."
    out = _browser_check('--skip-site', '--out', tmp_path / 'shots')
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert (tmp_path / 'shots' / 'lab_evaluate_end.png').exists()

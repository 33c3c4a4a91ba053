"README.md is generated from nbs/index.ipynb; the documentation site builds strictly and catches broken links; the browser check."
import json, os, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools'))
import make_readme, docs_site  # noqa: E402


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


def test_index_notebook_is_markdown_only_and_output_free():
    nb = json.loads((ROOT / 'nbs' / 'index.ipynb').read_text())
    assert nb['cells'] and all(c['cell_type'] == 'markdown' for c in nb['cells'])
    assert all('outputs' not in c and not c.get('attachments') for c in nb['cells'])


def test_make_readme_refuses_a_code_cell(tmp_path):
    nb = json.loads((ROOT / 'nbs' / 'index.ipynb').read_text())
    nb['cells'].append({'cell_type': 'code', 'metadata': {}, 'source': 'print(1)', 'outputs': [], 'execution_count': None})
    p = tmp_path / 'index.ipynb'; p.write_text(json.dumps(nb))
    with pytest.raises(SystemExit, match='cell .* is a code cell'): make_readme.readme_text(p)


def test_readme_is_short_and_links_the_guides():
    readme = (ROOT / 'README.md').read_text()
    assert len(readme.splitlines()) <= 150
    assert '![' in readme and 'figures/levels_accuracy.png' in readme and 'figures/levels_paired.csv' in readme
    for _, name in docs_site.GUIDES:
        assert f'(docs/{name}' in readme and (ROOT / 'docs' / name).exists(), name


def test_docs_read_as_a_product_not_a_diary():
    "No work-session or issue-number wording in the README, the guides, the bench notes, SECURITY.md or CONTRIBUTING.md."
    import re
    files = [ROOT / 'README.md', ROOT / 'bench' / 'README.md', ROOT / 'SECURITY.md', ROOT / 'CONTRIBUTING.md',
             *sorted((ROOT / 'docs').glob('*.md'))]
    pat = re.compile(r'\b(session \d+|sessions? of work|issue \d+|issue #\d+|rounds? of work)\b', re.I)
    bad = [(f.name, i + 1, line.strip()) for f in files for i, line in enumerate(f.read_text().splitlines()) if pat.search(line)]
    assert not bad, bad
    assert 'example.org' not in (ROOT / 'SECURITY.md').read_text()


def test_site_links_rewrites_repository_links_and_refuses_unknown_files():
    md = '[g](train-alignet.md#x) ![f](../figures/levels_accuracy.png) [s](../SECURITY.md) [n](../nbs/03_evaluate.ipynb)'
    assert docs_site.site_links(md, 'docs/full-scale.md') == \
        '[g](train-alignet.md#x) ![f](figures/levels_accuracy.png) [s](security.md) [n](library/03_evaluate.md)'
    assert docs_site.site_links('[r](docs/reproducibility.md) [b](bench/README.md)', 'README.md') == \
        '[r](reproducibility.md) [b](benchmarks.md)'
    assert docs_site.site_links('```\n[x](nowhere.md)\n```', 'README.md') == '```\n[x](nowhere.md)\n```'  # code stays
    with pytest.raises(docs_site.DocsError, match='nowhere.md'):
        docs_site.site_links('[x](nowhere.md)', 'README.md')


def test_library_page_documents_signatures_with_docments():
    md = docs_site.library_page(ROOT / 'nbs' / '01_data.ipynb')
    assert md.startswith('# data')
    assert '### `Trials`' in md and '#### `Trials.validate`' in md
    assert '| `subject` | np.ndarray \\| None | `None` | participant id per trial |' in md   # the docment of the argument
    assert '```python\n' in md and '??? note "Source"' in md                          # examples and folded source
    assert '#| export' not in md and '#| hide' not in md


def test_check_links_finds_a_broken_relative_link(tmp_path):
    (tmp_path / 'a').mkdir()
    (tmp_path / 'index.html').write_text('<a href="a/page.html#x">ok</a><img src="a/missing.png"><a href="https://x.org/y">ext</a>')
    (tmp_path / 'a' / 'page.html').write_text('<a href="../index.html">up</a><a href="nowhere.html">bad</a>')
    assert sorted(docs_site.check_links(tmp_path)) == [('a/page.html', 'nowhere.html'), ('index.html', 'a/missing.png')]


def test_strict_build_fails_on_a_broken_markdown_link(tmp_path):
    src = tmp_path / 'src'; src.mkdir()
    (src / 'index.md').write_text('# Home\n\nSee [the API](library/missing.md).\n')
    with pytest.raises(docs_site.DocsError, match='strict'):
        docs_site.mkdocs_build([{'Home': 'index.md'}], src, tmp_path / 'site')


def _build_site(d):
    "Build the site strictly into `d`/site (sources in `d`/src); return (site folder, its pages)."
    return d / 'site', docs_site.build(site_dir=d / 'site', src_dir=d / 'src')


@pytest.fixture(scope='session')
def built_site(tmp_path_factory):
    "(site folder, pages) of one strict site build per pytest run, shared by the tests (and xdist workers) that read it."
    from conftest import once_per_run
    return once_per_run(tmp_path_factory, 'docs_site', _build_site)


@pytest.mark.skipif(os.environ.get('ALIGN_NB_SKIP_DOCS') == '1', reason='ALIGN_NB_SKIP_DOCS=1')
def test_site_builds_strictly_with_every_page(built_site):
    site, pages = built_site
    lib = sorted(p.stem for p in (ROOT / 'nbs').glob('[0-9][0-9]_*.ipynb'))
    assert {'index.html', 'figures.html', 'about.html'} <= set(pages)
    guides = [name for _, name in docs_site.GUIDES]
    assert {str(Path(n).with_suffix('.html')) for n in guides} <= set(pages)      # the task guides
    assert {str(Path(pg).with_suffix('.html')) for _, _, pg in docs_site.PROJECT_FILES} <= set(pages)
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
    if os.environ.get('ALIGN_NB_SKIP_BROWSER') == '1': return 'ALIGN_NB_SKIP_BROWSER=1'
    return None


def _browser_check(*args):
    return subprocess.run([sys.executable, str(ROOT / 'tools' / 'browser_check.py'), *map(str, args)],
                          capture_output=True, text=True, timeout=2400)


@pytest.mark.skipif(_browser_missing() is not None, reason=str(_browser_missing()))
def test_browser_check_site(built_site, tmp_path):
    "The built site's home, a library page and a paper page load in Chromium without JavaScript errors or broken images."
    out = _browser_check('--skip-lab', '--site', built_site[0], '--out', tmp_path / 'shots')  # the run's one strict build (built_site)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    shots = {p.name for p in (tmp_path / 'shots').glob('*.png')}
    assert {'site_index.png', 'site_library_05_evaluate.png'} <= shots and any(s.startswith('site_paper_') for s in shots)


@pytest.mark.skipif(_browser_missing() is not None, reason=str(_browser_missing()))
def test_browser_check_jupyterlab_quick_paper(tmp_path):
    "JupyterLab runs the evaluation paper (quick) from the Run menu with no error output and no stderr warning box."
    out = _browser_check('--skip-site', '--out', tmp_path / 'shots')
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert (tmp_path / 'shots' / 'lab_evaluate_end.png').exists()

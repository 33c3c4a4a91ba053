"README.md is generated from nbs/index.ipynb; the documentation site builds strictly and catches broken links; the browser check."
import json, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools'))
import make_readme, docs_site  # noqa: E402






def test_index_notebook_is_markdown_only_and_output_free():
    nb = json.loads((ROOT / 'nbs' / 'index.ipynb').read_text())
    assert nb['cells'] and all(c['cell_type'] == 'markdown' for c in nb['cells'])
    assert all('outputs' not in c and not c.get('attachments') for c in nb['cells'])


def test_make_readme_refuses_a_code_cell(tmp_path):
    nb = json.loads((ROOT / 'nbs' / 'index.ipynb').read_text())
    nb['cells'].append({'cell_type': 'code', 'metadata': {}, 'source': 'print(1)', 'outputs': [], 'execution_count': None})
    p = tmp_path / 'index.ipynb'; p.write_text(json.dumps(nb))
    with pytest.raises(SystemExit, match='cell .* is a code cell'): make_readme.readme_text(p)


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
















def test_docs_read_as_a_product_not_a_diary():
    "No work-session or issue-number wording in the README, the guides, the bench notes, SECURITY.md or CONTRIBUTING.md."
    import re
    files = [ROOT / 'README.md', ROOT / 'bench' / 'README.md', ROOT / 'SECURITY.md', ROOT / 'CONTRIBUTING.md',
             *sorted((ROOT / 'docs').glob('*.md'))]
    pat = re.compile(r'\b(session \d+|sessions? of work|issue \d+|issue #\d+|rounds? of work)\b', re.I)
    bad = [(f.name, i + 1, line.strip()) for f in files for i, line in enumerate(f.read_text().splitlines()) if pat.search(line)]
    assert not bad, bad
    assert 'example.org' not in (ROOT / 'SECURITY.md').read_text()


def test_readme_is_short_and_links_the_guides():
    readme = (ROOT / 'README.md').read_text()
    assert len(readme.splitlines()) <= 150
    assert '![' in readme and 'figures/levels_accuracy.png' in readme and 'figures/levels_paired.csv' in readme
    for _, name in docs_site.GUIDES:
        assert f'(docs/{name}' in readme and (ROOT / 'docs' / name).exists(), name


def test_site_links_rewrites_repository_links_and_refuses_unknown_files():
    md = '[g](train-alignet.md#x) ![f](../figures/levels_accuracy.png) [s](../SECURITY.md) [n](../nbs/03_evaluate.ipynb)'
    assert docs_site.site_links(md, 'docs/full-scale.md') == \
        '[g](train-alignet.md#x) ![f](figures/levels_accuracy.png) [s](security.md) [n](library/03_evaluate.md)'
    assert docs_site.site_links('[r](docs/reproducibility.md) [b](bench/README.md)', 'README.md') == \
        '[r](reproducibility.md) [b](benchmarks.md)'
    assert docs_site.site_links('```\n[x](nowhere.md)\n```', 'README.md') == '```\n[x](nowhere.md)\n```'  # code stays
    with pytest.raises(docs_site.DocsError, match='nowhere.md'):
        docs_site.site_links('[x](nowhere.md)', 'README.md')


def test_readme_table_is_computed_from_the_committed_figures():
    "The headline table is what tools/readme_table.py computes from figures/levels_accuracy.csv and levels_paired.csv."
    sys.path.insert(0, str(ROOT / 'tools'))
    import readme_table
    assert readme_table.table() in (ROOT / 'README.md').read_text()

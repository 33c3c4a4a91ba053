"""Build the documentation site from the notebooks (offline, with mkdocs + mkdocs-jupyter).

    python tools/docs_site.py build                    # sources into site_src/, site into site/ (strict), links checked
    python tools/docs_site.py serve [--port 8000]      # the same, then serve site/ at http://127.0.0.1:8000
    python tools/docs_site.py sources                  # only write site_src/ (what `mkdocs build` then reads)
    ... --papers-from runs/toyworld                    # use the executed notebooks of your own run folders

`bash scripts/docs.sh [serve]` calls this. Pages:

* `index.md`: `nbs/index.ipynb` (the README's source), as markdown;
* the guides, grouped by task (`GUIDES`: getting started, evaluating any model, training AligNet, full scale,
  reproducibility), from `docs/*.md`;
* `library/NN_name.md` (the API reference): each library notebook `nbs/NN_*.ipynb`: its prose, the signature, docstring and documented
  arguments (fastcore docments) of every public function and class it exports, generated from the library itself
  (library notebooks ship without outputs), with the exported source folded below, and its examples as code;
* the executed paper notebooks (`figures/papers/`, `figures/real/papers/`, at the same paths in the site), rendered with
  their outputs by mkdocs-jupyter; without executed papers, the paper notebooks of `nbs/paper/` as source (marked so);
  `--papers-from DIR` takes them from run folders instead (`papers/...` in the site);
* `figures.md`: every figure of `figures/` and `figures/real/` with the CSV behind it and the results tables;
* the project's own files (`PROJECT_FILES`: `CHANGELOG.md`, `bench/README.md`, `SECURITY.md`, `CONTRIBUTING.md`);
* `about.md` (from `docs/about.md`): how the site is made and why with these tools.

Links between these sources are written as they work in the repository (`docs/train-alignet.md` from the README,
`../SECURITY.md` from a guide, `figures/x.png`, `nbs/03_evaluate.ipynb`) and rewritten to the site's pages
(`site_links`); a link to a repository file the site does not have is an error naming the page and the link.

`build` fails on any mkdocs warning (`strict`, with the link `validation` of `mkdocs.yml`) and, after the build, on any
relative link or image in the built HTML (markdown and notebook pages alike) that points at no file of the site.
"""
import argparse, ast, html.parser, inspect, json, os, re, shutil, sys, textwrap, urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools'))
SRC, SITE = ROOT / 'site_src', ROOT / 'site'
PAPER_DIRS = (('Toyworld main job', ROOT / 'figures' / 'papers'), ('Real-data demo', ROOT / 'figures' / 'real' / 'papers'))
# the guides, grouped by task, in navigation order: (title, file in docs/)
GUIDES = (('Getting started', 'getting-started.md'), ('Evaluate any model on any human data', 'evaluate-any-model.md'),
          ('Train AligNet', 'train-alignet.md'), ('Full scale on GPUs', 'full-scale.md'), ('Reproducibility', 'reproducibility.md'))
# files of the repository shown as site pages: (title, repository path, site page)
PROJECT_FILES = (('Changelog', 'CHANGELOG.md', 'changelog.md'), ('Benchmarks', 'bench/README.md', 'benchmarks.md'),
                 ('Security', 'SECURITY.md', 'security.md'), ('Contributing', 'CONTRIBUTING.md', 'contributing.md'))


class DocsError(Exception):
    "A problem that stops the documentation build (named file and what was expected)."


# ---------------------------------------------------------------- library notebooks -> markdown with API docs
def _src(cell):
    s = cell['source']
    return ''.join(s) if isinstance(s, list) else s


def _directives(src):
    "(directives {name: args}, source without the `#|` lines)."
    d, keep = {}, []
    for line in src.split('\n'):
        m = re.match(r'^\s*#\|\s*([\w-]+):?\s*(.*)$', line)
        if m: d[m[1]] = m[2].strip()
        else: keep.append(line)
    return d, '\n'.join(keep).strip('\n')


def _esc(s):
    "Text for one markdown table cell."
    return str(s).replace('\\', '\\\\').replace('|', '\\|').replace('\n', ' ').replace('<', '&lt;').replace('>', '&gt;')


def _anno(a):
    if a is inspect.Parameter.empty or a is None: return ''
    if isinstance(a, str): return a
    if isinstance(a, type): return a.__qualname__ if a.__module__ == 'builtins' else f'{a.__module__.split(".")[-1]}.{a.__qualname__}'
    return str(a).replace('typing.', '')


def _params(obj):
    "The parameters of `obj`'s signature, without a leading self / cls (None when it has no signature)."
    try: sig = inspect.signature(obj)
    except (TypeError, ValueError): return None, None
    ps = list(sig.parameters.values())
    if ps and ps[0].name in ('self', 'cls'): ps = ps[1:]
    return ps, sig.return_annotation


def _signature(name, obj):
    ps, ret = _params(obj)
    if ps is None: return f'{name}(...)'
    params = []
    for p in ps:
        s = p.name
        if p.kind is p.VAR_POSITIONAL: s = '*' + s
        elif p.kind is p.VAR_KEYWORD: s = '**' + s
        a = _anno(p.annotation)
        if a: s += f': {a}'
        if p.default is not inspect.Parameter.empty: s += (' = ' if a else '=') + repr(p.default)
        params.append(s)
    ret = _anno(ret)
    one = f'{name}({", ".join(params)})' + (f' -> {ret}' if ret else '')
    if len(one) <= 100: return one
    return f'{name}(\n' + ''.join(f'    {p},\n' for p in params) + ')' + (f' -> {ret}' if ret else '')


def _args_table(obj):
    "A markdown table of the documented arguments (docments: the comment after each parameter); '' when none is."
    from fastcore.docments import docments
    try: d = docments(obj, full=True)
    except Exception: return ''
    ps, ret = _params(obj)
    if ps is None: return ''
    rows, documented = [], False
    for p in ps:
        doc = (d.get(p.name) or {}).get('docment') or ''
        documented |= bool(doc)
        star = '*' if p.kind is p.VAR_POSITIONAL else '**' if p.kind is p.VAR_KEYWORD else ''
        dflt = '' if p.default is inspect.Parameter.empty else '`' + repr(p.default).replace('|', '\\|').replace('\n', ' ') + '`'
        rows.append(f'| `{star}{p.name}` | {_esc(_anno(p.annotation))} | {dflt} | {_esc(doc)} |')
    rdoc = (d.get('return') or {}).get('docment')
    if rdoc:
        documented = True
        rows.append(f'| **returns** | {_esc(_anno(ret))} | | {_esc(rdoc)} |')
    if not documented: return ''
    return '| argument | type | default | description |\n|---|---|---|---|\n' + '\n'.join(rows) + '\n'


def _doc_obj(qual, obj, level):
    "Markdown for one function or class: heading, signature, docstring, documented arguments."
    out = [f'{"#" * level} `{qual}`\n', '```python\n' + _signature(qual.split('.')[-1] if inspect.isclass(obj) else qual, obj) + '\n```\n']
    doc = inspect.getdoc(obj)
    if doc and not (inspect.isclass(obj) and doc.startswith(obj.__name__ + '(')): out.append(doc.strip() + '\n')
    t = _args_table(obj)
    if t: out.append(t)
    return '\n'.join(out)


def _defined(src):
    "Top-level (kind, name, node) defined by a code cell."
    try: tree = ast.parse(src)
    except SyntaxError as e: raise DocsError(f'cannot parse an exported cell: {e}')
    out = []
    for n in tree.body:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)): out.append(('function', n.name, n))
        elif isinstance(n, ast.ClassDef): out.append(('class', n.name, n))
        elif isinstance(n, (ast.Assign, ast.AnnAssign)):
            for t in (n.targets if isinstance(n, ast.Assign) else [n.target]):
                if isinstance(t, ast.Name): out.append(('value', t.id, n))
    return out


def api_markdown(src, module):
    "API documentation of the public names an exported cell defines in `module` (an imported module)."
    public = set(getattr(module, '__all__', None) or [n for n in vars(module) if not n.startswith('_')])
    parts = []
    for kind, name, node in _defined(src):
        if name not in public or not hasattr(module, name): continue
        obj = getattr(module, name)
        if kind == 'value':
            r = repr(obj)
            parts.append(f'#### `{name}`\n\n```python\n{name} = {r if len(r) < 300 else r[:300] + " ..."}\n```\n')
        elif kind == 'class':
            parts.append(_doc_obj(name, obj, 3))
            for m in node.body:
                if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef)) and not m.name.startswith('_'):
                    f = inspect.getattr_static(obj, m.name, None)
                    f = getattr(f, '__func__', f)
                    if isinstance(f, property): f = f.fget
                    if callable(f): parts.append(_doc_obj(f'{name}.{m.name}', f, 4))
        else:
            parts.append(_doc_obj(name, obj, 3))
    return '\n'.join(parts)


def library_page(nb_path):
    "Markdown page for one library notebook: prose, API docs of its exports (source folded), examples."
    import importlib
    nb = json.loads(Path(nb_path).read_text())
    cells, module, out = nb['cells'], None, []
    for c in cells:
        d, _ = _directives(_src(c)) if c['cell_type'] == 'code' else ({}, '')
        if 'default_exp' in d: module = d['default_exp']
    if module is None: raise DocsError(f'{nb_path}: no `#| default_exp` cell (a library notebook names its module)')
    mods = {}
    def mod(name):
        if name not in mods:
            try: mods[name] = importlib.import_module(f'align_nb.{name}')
            except Exception as e: raise DocsError(f'{nb_path}: cannot import align_nb.{name} to document it: {e!r}')
        return mods[name]
    src_url = f'align_nb/{module}.py'
    for i, c in enumerate(cells):
        src = _src(c)
        if c['cell_type'] == 'markdown':
            if src.strip(): out.append(src.strip('\n') + '\n')
            if i == 0: out.append(f'*Source notebook: `{Path(nb_path).relative_to(ROOT)}`; module `align_nb.{module}` (`{src_url}`).*\n')
            continue
        if c['cell_type'] != 'code': continue
        d, body = _directives(src)
        if 'default_exp' in d or 'hide' in d or not body.strip(): continue
        exp = next((k for k in ('export', 'exports', 'exporti') if k in d), None)
        if exp:
            api = api_markdown(body, mod(d[exp] or module)) if exp != 'exporti' else ''
            if api: out.append(api)
            title = 'Source' if api else 'Internal source (not public)'
            if body.lstrip().startswith(('from ', 'import ')) and not api: title = 'Imports'
            out.append(f'??? note "{title}"\n\n' + textwrap.indent(f'```python\n{body}\n```', '    ') + '\n')
        else:
            label = ' (not run by the tests: `eval: false`)' if d.get('eval', '').lower() == 'false' else ''
            out.append((f'*Example{label}:*\n\n' if label else '') + f'```python\n{body}\n```\n')
    return '\n'.join(out)


# ---------------------------------------------------------------- papers, figures, home
def _paper_title(nb):
    for c in nb['cells']:
        if c['cell_type'] == 'markdown':
            m = re.search(r'^#\s+(.+)$', _src(c), re.M)
            if m: return m[1].strip()
    return None


def _notebooks(d):
    return [q for q in sorted(Path(d).rglob('*.ipynb')) if not any(x.startswith('.') for x in q.relative_to(d).parts)]


def find_papers(papers_from=None):
    "[(section, notebook path, path relative to its folder, executed?)]: the executed papers, else nbs/paper/ as source."
    found = []
    if papers_from:
        for p in map(Path, papers_from):
            if not p.is_dir(): raise DocsError(f'{p}: no such folder (--papers-from takes run folders holding executed notebooks)')
            found += [(f'Executed papers ({p.resolve().name})', q, q.relative_to(p), True) for q in _notebooks(p)]
        if not found: raise DocsError(f'no executed notebooks (*.ipynb) under {", ".join(map(str, papers_from))}')
        return found
    for section, d in PAPER_DIRS:
        if d.is_dir():   # the summary (figures) paper first, then the others by name
            nbs = sorted(_notebooks(d), key=lambda q: (not q.stem.startswith(('figures', 'summary')), str(q.relative_to(d))))
            found += [(section, q, q.relative_to(d), True) for q in nbs]
    if not found:
        found = [('Paper notebooks (not executed)', q, Path(q.name), False) for q in sorted((ROOT / 'nbs' / 'paper').glob('*.ipynb'))]
    return found


def _slug(s): return re.sub(r'[^a-z0-9]+', '_', s.lower()).strip('_')


def write_sources(out=SRC, papers_from=None):
    "Write the site's sources into `out`; return the nav (a list, as in mkdocs.yml)."
    from make_readme import readme_text, HEADER
    if out.exists(): shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / 'index.md').write_text(site_links(readme_text()[len(HEADER):], 'README.md'))
    nav = [{'Home': 'index.md'}]
    guides = []
    for title, name in GUIDES:
        src = ROOT / 'docs' / name
        if src.exists():
            (out / name).write_text(site_links(src.read_text(), f'docs/{name}'))
            guides.append({title: name})
    if guides: nav.append({'Guides': guides})
    lib = []
    for nb in sorted((ROOT / 'nbs').glob('[0-9][0-9]_*.ipynb')):
        page = Path('library') / (nb.stem + '.md')
        (out / page).parent.mkdir(exist_ok=True)
        (out / page).write_text(library_page(nb))
        lib.append({f'{nb.stem[:2]} {nb.stem[3:]}': page.as_posix()})
    nav.append({'API reference': lib})
    papers, sections = find_papers(papers_from), {}
    for section, nb_path, rel, executed in papers:
        nb = json.loads(nb_path.read_text())
        if not executed:
            nb['cells'].insert(0, {'cell_type': 'markdown', 'metadata': {}, 'id': 'docsnote', 'source':
                                   f'*Not executed: no executed papers were found in `figures/papers/` or `figures/real/papers/`; '
                                   f'this is the source of `nbs/paper/{nb_path.name}`. `bash scripts/main.sh` runs it.*'})
        # at its repository path when it has one (figures/papers/x.ipynb: its relative links to ../x.png keep working)
        page = nb_path.resolve().relative_to(ROOT) if nb_path.resolve().is_relative_to(ROOT) else Path('papers') / _slug(section) / rel
        (out / page).parent.mkdir(parents=True, exist_ok=True)
        (out / page).write_text(json.dumps(nb))
        parts = rel.with_suffix('').parts
        label = '/'.join(parts[:-1] if len(parts) > 1 and parts[-1] == 'notebook' else parts)
        sections.setdefault(section, []).append({label: page.as_posix()})
    nav.append({'Papers': [{k: v} for k, v in sections.items()]})
    nav.append({'Figures': write_figures(out)})
    project = []
    for title, rel, page in PROJECT_FILES:
        if (ROOT / rel).exists():
            (out / page).write_text(site_links((ROOT / rel).read_text(), rel))
            project.append({title: page})
    if project: nav.append({'Project': project})
    about = ROOT / 'docs' / 'about.md'
    if about.exists():
        (out / 'about.md').write_text(site_links(about.read_text(), 'docs/about.md'))
        nav.append({'About this site': 'about.md'})
    return nav


def _site_page(repo_path):
    "The site page (or file) showing the repository file `repo_path`; None when the site has none."
    repo_path = repo_path.strip('/')
    pages = {f'docs/{name}': name for _, name in GUIDES}
    pages.update({rel: page for _, rel, page in PROJECT_FILES})
    pages.update({'README.md': 'index.md', 'nbs/index.ipynb': 'index.md', 'docs/about.md': 'about.md'})
    if repo_path in pages: return pages[repo_path]
    if re.fullmatch(r'nbs/\d\d_\w+\.ipynb', repo_path): return f'library/{Path(repo_path).stem}.md'
    if repo_path.startswith('figures/') and (ROOT / repo_path).is_file(): return repo_path
    return None


_LINK = re.compile(r'(!?\[[^\]]*\]\()([^)\s]+)(\))')


def site_links(md, repo_path):
    "Markdown of the repository file `repo_path` with its relative links rewritten to the site's pages (all at the root)."
    import posixpath
    def fix(m):
        target = m[2]
        u = urllib.parse.urlsplit(target)
        if u.scheme or u.netloc or target.startswith(('#', 'mailto:')): return m[0]
        path, _, anchor = target.partition('#')
        page = _site_page(posixpath.normpath(posixpath.join(posixpath.dirname(repo_path), urllib.parse.unquote(path))))
        if page is None:
            raise DocsError(f'{repo_path}: the link {target!r} points at a repository file the site does not show '
                            f'(link to a guide, a figure, a library notebook or one of {[r for _, r, _ in PROJECT_FILES]})')
        return m[1] + page + ('#' + anchor if anchor else '') + m[3]
    out, fence = [], False
    for line in md.split('\n'):   # links in fenced code blocks stay as they are
        if line.lstrip().startswith('```'): fence = not fence
        out.append(line if fence else _LINK.sub(fix, line))
    return '\n'.join(out)


def write_figures(out):
    "Copy figures/ (png, csv, md) into the site; write figures.md showing them."
    lines = ['# Figures\n', 'Every figure the main job (`bash scripts/main.sh`) and the real-data demo (`align-nb real`) '
             'regenerate, with the CSV behind it. The executed paper notebooks that made them are under *Papers*.\n']
    for title, d in (('Toyworld main job (`figures/`)', ROOT / 'figures'), ('Real-data demo (`figures/real/`)', ROOT / 'figures' / 'real')):
        if not d.is_dir(): continue
        rel = d.relative_to(ROOT)
        lines.append(f'## {title}\n')
        for md in sorted(d.glob('*.md')):
            text = md.read_text()
            if not re.search(r'^\s*\|', text, re.M) and not text.lstrip().startswith('#'):   # a fixed-width text table
                text = '```text\n' + text.rstrip('\n') + '\n```'
            lines.append(f'### {md.stem}\n\n' + _demote(text) + '\n')
        for png in sorted(d.glob('*.png')):
            (out / rel).mkdir(parents=True, exist_ok=True); shutil.copy(png, out / rel / png.name)
            csv = png.with_suffix('.csv')
            lines.append(f'### {png.stem}\n\n![{png.stem}]({rel.as_posix()}/{png.name})\n')
            if csv.exists():
                shutil.copy(csv, out / rel / csv.name)
                lines.append(f'Data: [{csv.name}]({rel.as_posix()}/{csv.name})\n')
        for csv in sorted(d.glob('*.csv')):
            if not csv.with_suffix('.png').exists():
                shutil.copy(csv, out / rel / csv.name)
                lines.append(f'Table: [{csv.name}]({rel.as_posix()}/{csv.name})\n')
    (out / 'figures.md').write_text('\n'.join(lines))
    return 'figures.md'


def _demote(md):
    "A markdown file's headings moved below level 3 (to sit inside figures.md)."
    return re.sub(r'^(#{1,3}) ', lambda m: '#' * (len(m[1]) + 3) + ' ', md, flags=re.M)


# ---------------------------------------------------------------- build, check, serve
class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(); self.links = []
    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if v and ((tag == 'a' and k == 'href') or (tag in ('img', 'script') and k == 'src') or (tag == 'link' and k == 'href')):
                self.links.append(v)


def check_links(site=SITE):
    "Relative links and images of every built page that point at no file of the site: [(page, link)]."
    bad = []
    for page in sorted(site.rglob('*.html')):
        p = _Links(); p.feed(page.read_text(errors='replace'))
        for link in p.links:
            u = urllib.parse.urlsplit(link)
            if u.scheme or u.netloc or link.startswith(('#', 'mailto:', 'data:', 'javascript:')) or not u.path: continue
            target = (site / u.path.lstrip('/')) if u.path.startswith('/') else (page.parent / urllib.parse.unquote(u.path))
            if target.is_dir(): target = target / 'index.html'
            if not target.exists(): bad.append((str(page.relative_to(site)), link))
    return bad


def mkdocs_build(nav, src_dir=SRC, site_dir=SITE, strict=True):
    "Build `src_dir` into `site_dir` with mkdocs.yml's settings and `nav`; a DocsError on any warning (strict)."
    import logging
    from mkdocs.commands.build import build as mk_build
    from mkdocs.config import load_config
    from mkdocs.exceptions import MkDocsException
    log = logging.getLogger('mkdocs')
    if not log.handlers:
        h = logging.StreamHandler(); h.setFormatter(logging.Formatter('%(levelname)-7s -  %(message)s')); log.addHandler(h)
        log.setLevel(logging.INFO)
        for n in ('mkdocs.plugins.mkdocs_jupyter', 'mkdocs_jupyter', 'mkdocs.plugins.mkdocs_jupyter.plugin'):
            logging.getLogger(n).setLevel(logging.WARNING)
    try:
        cfg = load_config(str(ROOT / 'mkdocs.yml'), nav=nav, docs_dir=str(src_dir), site_dir=str(site_dir), strict=strict)
        cfg.plugins.on_startup(command='build', dirty=False)
        try: mk_build(cfg)
        finally: cfg.plugins.on_shutdown()
    except (SystemExit, MkDocsException) as e:
        raise DocsError(f'mkdocs build failed (strict: every warning fails): {e}')
    bad = check_links(Path(site_dir))
    if bad:
        raise DocsError('broken internal links in the built site:\n' + '\n'.join(f'  {p}: {l}' for p, l in bad[:50]))
    return sorted(str(p.relative_to(site_dir)) for p in Path(site_dir).rglob('*.html') if p.name != '404.html')


def build(papers_from=None, site_dir=SITE, src_dir=SRC, strict=True):
    "Write the sources into `src_dir`, build the site into `site_dir` (strict), check its links; return its pages."
    return mkdocs_build(write_sources(Path(src_dir), papers_from), Path(src_dir), Path(site_dir), strict)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('command', nargs='?', default='build', choices=['build', 'serve', 'sources'])
    ap.add_argument('--papers-from', nargs='+', help='run folders whose executed notebooks become the paper pages')
    ap.add_argument('--site-dir', default=str(SITE))
    ap.add_argument('--port', type=int, default=8000)
    a = ap.parse_args(argv)
    try:
        if a.command == 'sources':
            write_sources(SRC, a.papers_from); print(f'wrote {SRC}'); return
        nav = write_sources(SRC, a.papers_from)
        pages = mkdocs_build(nav, SRC, Path(a.site_dir))
        print(f'built {len(pages)} pages into {a.site_dir} (no warnings, no broken internal links):')
        for p in pages: print('  ' + p)
        if a.command == 'serve':   # the built site as it is (static files), until Ctrl-C
            import functools, http.server
            handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(a.site_dir))
            srv = http.server.ThreadingHTTPServer(('127.0.0.1', a.port), handler)
            print(f'serving {a.site_dir} at http://127.0.0.1:{a.port}/ (Ctrl-C stops; run it again after changing notebooks)', flush=True)
            try: srv.serve_forever()
            except KeyboardInterrupt: pass
    except DocsError as e:
        sys.exit(f'docs: {e}')


if __name__ == '__main__':
    main()

"""Check the documentation site and JupyterLab in a real browser (headless Chromium driven by playwright).

    python tools/browser_check.py                       # screenshots into /tmp/align_nb_browser_check
    python tools/browser_check.py --out shots --notebook nbs/paper/evaluate.ipynb --skip-lab

1. Serves the built site (`site/`, built first with tools/docs_site.py when missing or with --build) on a local port and
   opens its home page, one library page and one paper page: screenshots, JavaScript console errors, page errors,
   images that did not load, and notebook error / stderr outputs shown on the paper page.
2. Starts JupyterLab (`jupyter lab --allow-root --no-browser`, a random token, temporary Jupyter folders and
   `ALIGN_NB_RUNS`) on a copy of a paper notebook in a temporary folder (the repository's notebooks stay untouched),
   sets `quick = True` in its parameters cell, runs all cells from the Run menu, waits until every cell has run and the
   kernel is idle, saves, and reads the saved notebook: error outputs and stderr outputs (e.g. `TqdmWarning: IProgress
   not found`, shown as red boxes) are reported; screenshots of the top and the end of the notebook.

Exit status 1 when any JavaScript console error, page error, broken image, notebook error output or stderr warning was
found (a summary lists them all), 2 when the browser or the site is missing. The browser: Debian's `chromium` package
(`/usr/bin/chromium`, or `--chromium` / `$ALIGN_NB_CHROMIUM`); playwright drives it (`executable_path`), no browser
download needed.
"""
import argparse, contextlib, functools, http.server, json, os, re, secrets, shutil, socket, subprocess, sys, tempfile, threading, time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools'))
WARNING_RE = re.compile(r'warning|error|traceback|exception', re.I)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


@contextlib.contextmanager
def serve_dir(d):
    "Serve folder `d` over http on 127.0.0.1 (a thread); yield the base URL."
    handler = functools.partial(type('Quiet', (http.server.SimpleHTTPRequestHandler,), {'log_message': lambda *a: None}), directory=str(d))
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', free_port()), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True); t.start()
    try: yield f'http://127.0.0.1:{srv.server_address[1]}'
    finally: srv.shutdown()


class Findings:
    def __init__(self): self.problems, self.notes, self.shots = [], [], []
    def problem(self, where, what): self.problems.append(f'{where}: {what}'); print(f'  PROBLEM {where}: {what}', flush=True)
    def note(self, where, what): self.notes.append(f'{where}: {what}'); print(f'  {where}: {what}', flush=True)


def watch_console(page, where, f):
    "Record JavaScript console errors and uncaught page errors of `page` as problems."
    page.on('console', lambda m: f.problem(where, f'console {m.type}: {m.text[:300]}') if m.type == 'error' else None)
    page.on('pageerror', lambda e: f.problem(where, f'page error: {str(e)[:300]}'))
    page.on('requestfailed', lambda r: f.problem(where, f'request failed: {r.url[:200]} ({r.failure})'))


def check_page(ctx, url, name, out, f, paper=False):
    page = ctx.new_page()
    watch_console(page, name, f)
    resp = page.goto(url, wait_until='networkidle')
    if resp is None or resp.status != 200: f.problem(name, f'{url} answered {resp and resp.status}')
    broken = page.evaluate('Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)')
    for b in broken: f.problem(name, f'image did not load: {b}')
    n_img = page.evaluate('document.images.length')
    title = page.title()
    info = f'title {title!r}, {n_img} images'
    if paper:
        outs = page.evaluate('''() => { const r = {}; for (const s of ['.jp-OutputArea-output', '.jp-RenderedImage img',
            '[data-mime-type="application/vnd.jupyter.stderr"]', '.jp-Cell']) r[s] = document.querySelectorAll(s).length;
            r.stderr = Array.from(document.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]')).map(e => e.innerText.slice(0, 300));
            return r; }''')
        info += f", {outs['.jp-Cell']} cells, {outs['.jp-OutputArea-output']} outputs, {outs['.jp-RenderedImage img']} figures"
        plain = []
        for s in outs['stderr']:
            if WARNING_RE.search(s): f.problem(name, f'stderr / error output shown on the page: {s!r}')
            else: plain.append(s)
        if plain: f.note(name, f'{len(plain)} stderr outputs without a warning (e.g. text progress bars), the last: {plain[-1][:120]!r}')
    f.note(name, info)
    page.screenshot(path=str(out / f'{name}.png'))                      # what a reader sees first
    page.screenshot(path=str(out / f'{name}_full.png'), full_page=True)  # the whole page
    f.shots += [f'{name}.png', f'{name}_full.png']
    page.close()


def check_site(browser, site, out, f, library_page, paper_page):
    pages = sorted(str(p.relative_to(site)) for p in site.rglob('*.html'))
    papers = [p for p in pages if p.startswith('papers/') or '/papers/' in p or p.startswith('nbs/paper/')]
    if paper_page is None:
        # the figures / summary paper (every figure inline), else an evaluation paper, else the first
        stem = lambda p: Path(p).stem if Path(p).stem != 'notebook' else Path(p).parent.name
        pref = [p for p in papers if stem(p).startswith('figures') and 'real' not in p] or [p for p in papers if stem(p).startswith('eval')] or papers
        if not pref: f.problem('site', 'no paper page in the built site'); return
        paper_page = pref[0]
    ctx = browser.new_context(viewport={'width': 1400, 'height': 1000})
    with serve_dir(site) as base:
        check_page(ctx, f'{base}/index.html', 'site_index', out, f)
        check_page(ctx, f'{base}/{library_page}', 'site_library_' + Path(library_page).stem, out, f)
        check_page(ctx, f'{base}/{paper_page}', 'site_paper_' + '_'.join(Path(paper_page).with_suffix('').parts), out, f, paper=True)
    ctx.close()


def _wait_http(url, proc, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None: raise RuntimeError(f'jupyter lab exited with status {proc.returncode}')
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200: return
        except Exception: time.sleep(1)
    raise RuntimeError(f'jupyter lab did not answer {url} within {timeout} s')


def notebook_outputs(path):
    "(error outputs, stderr texts, number of code cells run, number of code cells) of a saved notebook."
    nb = json.loads(Path(path).read_text())
    errors, stderr, ran, code = [], [], 0, 0
    for i, c in enumerate(nb['cells']):
        if c['cell_type'] != 'code': continue
        code += 1; ran += c.get('execution_count') is not None
        for o in c.get('outputs', []):
            if o['output_type'] == 'error': errors.append(f"cell {i}: {o['ename']}: {o['evalue'][:200]}")
            elif o['output_type'] == 'stream' and o.get('name') == 'stderr':
                t = ''.join(o['text']) if isinstance(o['text'], list) else o['text']
                stderr.append(f'cell {i}: {t.strip()[:300]}')
    return errors, stderr, ran, code


def check_lab(browser, notebook, out, f, timeout):
    work = Path(tempfile.mkdtemp(prefix='align_nb_lab_'))
    try:
        nbdir = work / 'notebooks'; nbdir.mkdir()
        nb = json.loads(Path(notebook).read_text())
        params = [c for c in nb['cells'] if c['cell_type'] == 'code' and 'parameters' in c.get('metadata', {}).get('tags', [])]
        if not params: f.problem('lab', f'{notebook} has no cell tagged parameters'); return
        src = ''.join(params[0]['source'])
        if not re.search(r'^quick\s*=', src, re.M): f.problem('lab', f'{notebook}: the parameters cell has no `quick`'); return
        params[0]['source'] = re.sub(r'^quick\s*=\s*\w+', 'quick = True', src, flags=re.M)
        copy = nbdir / Path(notebook).name
        copy.write_text(json.dumps(nb, indent=1))
        env = dict(os.environ, ALIGN_NB_RUNS=str(work / 'runs'), JUPYTER_CONFIG_DIR=str(work / 'config'),
                   JUPYTER_RUNTIME_DIR=str(work / 'runtime'), JUPYTERLAB_WORKSPACES_DIR=str(work / 'workspaces'),
                   JUPYTERLAB_SETTINGS_DIR=str(work / 'settings'), PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get('PYTHONPATH', ''))
        port, token = free_port(), secrets.token_hex(16)
        log = open(work / 'lab.log', 'w')
        proc = subprocess.Popen([sys.executable, '-m', 'jupyter', 'lab', '--allow-root', '--no-browser', f'--port={port}',
                                 '--ServerApp.ip=127.0.0.1', f'--ServerApp.token={token}', f'--ServerApp.root_dir={nbdir}',
                                 '--LabApp.news_url=', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate'],
                                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=nbdir)
        try:
            base = f'http://127.0.0.1:{port}'
            _wait_http(f'{base}/api/status?token={token}', proc)
            ctx = browser.new_context(viewport={'width': 1500, 'height': 1000})
            page = ctx.new_page()
            watch_console(page, 'lab', f)
            name = Path(notebook).stem
            t0 = time.time()
            page.goto(f'{base}/lab/tree/{copy.name}?token={token}', wait_until='domcontentloaded')
            n_code = sum(c['cell_type'] == 'code' for c in nb['cells'])
            # the notebook is rendered (all its code cells) and its kernel has started and is idle
            page.wait_for_function(f"document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell').length >= {n_code}", timeout=180_000)
            page.get_by_text(re.compile(r'\|\s*Idle')).first.wait_for(timeout=180_000)
            with contextlib.suppress(Exception):   # the "notified about official Jupyter news?" toast: no
                page.get_by_role('button', name='No', exact=True).click(timeout=3000)
            page.screenshot(path=str(out / f'lab_{name}_opened.png')); f.shots.append(f'lab_{name}_opened.png')
            started = lambda: page.evaluate("Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')).some(e => /\\[(\\*|\\d+)\\]/.test(e.innerText))")
            for attempt in range(3):
                page.locator('.jp-NotebookPanel .jp-Cell').first.click()   # focus the notebook
                page.locator('.lm-MenuBar-itemLabel', has_text='Run').first.click()
                page.locator('.lm-Menu-itemLabel', has_text='Run All Cells').first.click()
                t1 = time.time()
                while time.time() - t1 < 30 and not started(): time.sleep(1)
                if started(): break
                f.note('lab', f'Run > Run All Cells started nothing within 30 s (attempt {attempt + 1}); trying again')
            else:
                f.problem('lab', 'Run > Run All Cells did not start the notebook (3 attempts)')
            f.note('lab', f'opened {copy.name} (quick = True) in JupyterLab, clicked Run > Run All Cells')
            deadline, state, quiet = t0 + timeout, {}, 0
            while time.time() < deadline:   # every code cell numbered ([12]:, none [*]: or [ ]:) and the kernel idle
                state = page.evaluate("""() => { const p = Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')).map(e => e.innerText.trim());
                    return {cells: p.length, done: p.filter(t => /\\[\\d+\\]/.test(t)).length, busy: p.filter(t => t.includes('*')).length,
                            status: (document.querySelector('.jp-Notebook-ExecutionIndicator') || {dataset: {}}).dataset.status}; }""")
                if state['cells'] and state['done'] == state['cells'] and state['status'] == 'idle': break
                quiet = quiet + 1 if state['busy'] == 0 and state['status'] == 'idle' and state['done'] else 0
                if quiet >= 5: break   # idle for 10 s with cells left unnumbered: Run All stopped (an error)
                time.sleep(2)
            else:
                f.problem('lab', f'the notebook had not finished after {timeout} s: {state}')
            took = time.time() - t0
            page.keyboard.press('Control+s')
            time.sleep(3)
            def shot(locator, label):   # scroll `locator` into view (the notebook renders what is visible), screenshot
                with contextlib.suppress(Exception):
                    if locator.count() == 0: return
                    locator.scroll_into_view_if_needed(timeout=10_000); time.sleep(2)
                    page.screenshot(path=str(out / f'lab_{name}_{label}.png')); f.shots.append(f'lab_{name}_{label}.png')
            cells = page.locator('.jp-NotebookPanel .jp-Cell')
            shot(cells.first, 'top')
            shot(page.locator('.jp-NotebookPanel .jp-OutputArea-output img').first, 'figure')
            shot(cells.last, 'end')
            stderr_dom = page.evaluate('''() => Array.from(document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
                                          .map(e => e.innerText.slice(0, 300))''')
            errors, stderr, ran, code = notebook_outputs(copy)
            f.note('lab', f'{ran} of {code} code cells ran, {took:.0f} s from opening to the end (quick = True); '
                          f'{len(errors)} error outputs, {len(stderr)} stderr outputs in the saved notebook, {len(stderr_dom)} red stderr boxes on screen')
            if ran < code: f.problem('lab', f'only {ran} of {code} code cells ran')
            beside = sorted(str(q.relative_to(nbdir)) for q in nbdir.iterdir() if q.is_dir() and not q.name.startswith('.'))
            landed = sorted(str(q.relative_to(work)) for q in (work / 'runs').rglob('*') if q.is_dir()) if (work / 'runs').is_dir() else []
            if beside: f.problem('lab', f'the paper wrote {beside} beside the notebook instead of into $ALIGN_NB_RUNS')
            if landed: f.note('lab', f'run folders in $ALIGN_NB_RUNS: {landed[-1]}')
            for e in errors: f.problem('lab', f'error output: {e}')
            plain = []
            for s in stderr:
                if WARNING_RE.search(s): f.problem('lab', f'stderr warning box: {s!r}')
                else: plain.append(s)
            if plain: f.note('lab', f'{len(plain)} stderr outputs without a warning (e.g. text progress bars), the last: {plain[-1][:160]!r}')
            ctx.close()
        finally:
            proc.terminate()
            try: proc.wait(20)
            except subprocess.TimeoutExpired: proc.kill()
            log.close()
            shutil.copy(work / 'lab.log', out / 'jupyterlab.log')
            if copy.exists(): shutil.copy(copy, out / f'lab_{name}_executed.ipynb')
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', default=os.path.join(tempfile.gettempdir(), 'align_nb_browser_check'), help='screenshot folder')
    ap.add_argument('--site', default=str(ROOT / 'site'), help='the built site (tools/docs_site.py build)')
    ap.add_argument('--build', action='store_true', help='build the site first (also done when it is missing)')
    ap.add_argument('--library-page', default='library/03_evaluate.html')
    ap.add_argument('--paper-page', default=None, help="a page under papers/ (default: an evaluation paper)")
    ap.add_argument('--notebook', default=str(ROOT / 'nbs' / 'paper' / 'evaluate.ipynb'), help='the paper run in JupyterLab')
    ap.add_argument('--timeout', type=int, default=1200, help='seconds for the notebook to run in JupyterLab')
    ap.add_argument('--skip-site', action='store_true'); ap.add_argument('--skip-lab', action='store_true')
    ap.add_argument('--chromium', default=os.environ.get('ALIGN_NB_CHROMIUM', '/usr/bin/chromium'))
    a = ap.parse_args(argv)
    if not Path(a.chromium).exists(): sys.exit(print(f'no browser at {a.chromium}: apt-get install chromium (or --chromium PATH)') or 2)
    try: from playwright.sync_api import sync_playwright
    except ImportError: sys.exit(print('playwright is not installed (pip install playwright)') or 2)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    site = Path(a.site)
    if not a.skip_site and (a.build or not (site / 'index.html').exists()):
        import docs_site
        print(f'building the site into {site}', flush=True)
        docs_site.build(site_dir=site, src_dir=site.with_name(site.name + '_src'))
    f = Findings()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=a.chromium, headless=True, args=['--no-sandbox', '--disable-gpu'])
        print(f'browser: {a.chromium} (Chromium {browser.version}), screenshots into {out}', flush=True)
        if not a.skip_site:
            print('[site]', flush=True); check_site(browser, site, out, f, a.library_page, a.paper_page)
        if not a.skip_lab:
            print('[jupyterlab]', flush=True); check_lab(browser, a.notebook, out, f, a.timeout)
        browser.close()
    print('\nsummary')
    print(f'  screenshots ({out}): ' + ', '.join(f.shots))
    for n in f.notes: print('  ok/info: ' + n)
    for pr in f.problems: print('  PROBLEM: ' + pr)
    print(f'  {len(f.problems)} problems' + ('' if f.problems else ': no JavaScript errors, no notebook errors, no warning boxes'))
    (out / 'summary.json').write_text(json.dumps({'screenshots': f.shots, 'notes': f.notes, 'problems': f.problems}, indent=1))
    sys.exit(1 if f.problems else 0)


if __name__ == '__main__':
    main()

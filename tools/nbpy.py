"""Developer tool: round-trip a notebook through a plain-text "percent" script for editing.

    python tools/nbpy.py unpack nbs/03_features.ipynb /tmp/03_features.py
    python tools/nbpy.py pack /tmp/03_features.py nbs/03_features.ipynb

Cells start with `# %%` (code) or `# %% [markdown]` (markdown, every line prefixed by `# `).
Cell tags go on the marker line: `# %% tags=["parameters"]`. The notebook stays the only source
of the library; the script is a scratch copy. Outputs are not kept (run the notebook to make them).
"""
import hashlib, json, os, re, sys
import nbformat

MARK = re.compile(r'^# %%(?P<md> \[markdown\])?(?: tags=(?P<tags>\[.*\]))?\s*$')

def unpack(nb_path, py_path):
    nb = nbformat.read(nb_path, as_version=4)
    out = []
    for c in nb.cells:
        tags = c.metadata.get('tags')
        t = f' tags={json.dumps(tags)}' if tags else ''
        if c.cell_type == 'markdown':
            out.append(f'# %% [markdown]{t}')
            out += [('# ' + l) if l else '#' for l in c.source.split('\n')]
        else:
            out.append(f'# %%{t}')
            out += c.source.split('\n')
        out.append('')
    open(py_path, 'w').write('\n'.join(out))

def pack(py_path, nb_path):
    cells, cur = [], None
    for line in open(py_path).read().split('\n'):
        m = MARK.match(line)
        if m:
            if cur: cells.append(cur)
            cur = dict(md=bool(m['md']), tags=json.loads(m['tags']) if m['tags'] else None, lines=[])
        elif cur is not None:
            cur['lines'].append(line)
    if cur: cells.append(cur)
    # keep the ids of unchanged cells (small diffs); new or edited cells get an id derived from their content
    old = {}
    if os.path.exists(nb_path):
        for oc in nbformat.read(nb_path, as_version=4).cells:
            if oc.get('id'): old.setdefault((oc.cell_type, oc.source), oc['id'])
    used = set()
    nb = nbformat.v4.new_notebook()
    nb.metadata['kernelspec'] = dict(display_name='python3', language='python', name='python3')
    for c in cells:
        lines = c['lines']
        while lines and not lines[-1].strip(): lines.pop()
        if c['md']:
            src = '\n'.join(l[2:] if l.startswith('# ') else l.lstrip('#') for l in lines)
            cell = nbformat.v4.new_markdown_cell(src)
        else:
            cell = nbformat.v4.new_code_cell('\n'.join(lines))
        if c['tags']: cell.metadata['tags'] = c['tags']
        cid = old.get((cell.cell_type, cell.source))
        if cid is None or cid in used:
            h = hashlib.sha1(f'{cell.cell_type}\n{cell.source}'.encode()).hexdigest(); i = 0
            while h[i:i + 8] in used: i += 1
            cid = h[i:i + 8]
        used.add(cid); cell['id'] = cid
        nb.cells.append(cell)
    nbformat.write(nb, nb_path)

if __name__ == '__main__':
    cmd, a, b = sys.argv[1:4]
    {'unpack': unpack, 'pack': pack}[cmd](a, b)

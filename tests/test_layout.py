"""The package's layers: modules import one way, notebooks are numbered in dependency order, no shims, no private names across modules."""
import ast, json, re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / 'align_nb'

def _notebook_numbers() -> dict:
    "module -> the number of its library notebook (nbs/NN_name.ipynb with `#| default_exp name`)."
    out = {}
    for p in sorted((ROOT / 'nbs').glob('[0-9][0-9]_*.ipynb')):
        src = ''.join(''.join(c['source']) for c in json.loads(p.read_text())['cells'])
        m = re.search(r'#\| default_exp (\w+)', src)
        assert m, f'{p.name}: no default_exp'
        out[m.group(1)] = int(p.name[:2])
    return out

def _imports(path:Path) -> list:
    "(module, imported names) for every align_nb import in a module, top level and inside functions."
    out = []
    for n in ast.walk(ast.parse(path.read_text())):
        if isinstance(n, ast.ImportFrom):
            names = [a.name for a in n.names]
            if n.level == 1 and n.module: out.append((n.module.split('.')[0], names))
            elif n.module and n.module.startswith('align_nb.'): out.append((n.module.split('.')[1], names))
        elif isinstance(n, ast.Import):
            out += [(a.name.split('.')[1], []) for a in n.names if a.name.startswith('align_nb.')]
    return out

def test_every_import_goes_to_a_lower_notebook_number_so_there_is_no_circle():
    num = _notebook_numbers()
    assert set(num) == {p.stem for p in LIB.glob('*.py') if not p.stem.startswith('_')}
    bad = [(m, dep) for m in num for dep, _ in _imports(LIB / f'{m}.py') if dep != m and num.get(dep, -1) >= num[m]]
    assert not bad, f'imports of a module of the same or a higher layer: {bad}'

def test_notebook_code_cells_import_only_from_lower_notebooks():
    num = _notebook_numbers()
    bad = []
    for p in sorted((ROOT / 'nbs').glob('[0-9][0-9]_*.ipynb')):
        n = int(p.name[:2])
        for c in json.loads(p.read_text())['cells']:
            if c['cell_type'] != 'code': continue
            for dep in re.findall(r'(?:from|import) align_nb\.([a-z_]+)', ''.join(c['source'])):
                if num.get(dep, -1) > n: bad.append((p.name, dep))
    assert not bad, f'forward references: {bad}'

# Module-level `__getattr__` that builds classes on first use, and private helpers used across modules: none left (torch
# classes are defined at top level, helpers shared between modules are public). The sets must stay
# empty: a new entry fails these tests.
LAZY_CLASS_MODULES = set()
PRIVATE_ACROSS = set()

def test_no_module_level_getattr_shims_outside_the_package_root():
    shims = {p.name for p in LIB.glob('*.py') if p.name != '__init__.py'
             and any(isinstance(n, ast.FunctionDef) and n.name == '__getattr__' for n in ast.parse(p.read_text()).body)}
    assert shims <= LAZY_CLASS_MODULES, f'modules with a module-level __getattr__: {sorted(shims - LAZY_CLASS_MODULES)}'

def test_no_private_names_imported_across_modules():
    bad = {(p.stem, dep, name) for p in LIB.glob('*.py') for dep, names in _imports(p) if dep != p.stem
           for name in names if name.startswith('_') and not name.startswith('__')}
    assert bad <= PRIVATE_ACROSS, f'private names used across modules: {sorted(bad - PRIVATE_ACROSS)}'

def test_the_public_api_is_small_and_resolves():
    import align_nb
    assert 8 <= len(align_nb._PUBLIC) <= 20
    for name in align_nb._PUBLIC: assert callable(getattr(align_nb, name)), name
    for p in LIB.glob('*.py'):
        if p.stem.startswith('_'): continue
        tree = ast.parse(p.read_text())
        alls = [n.value for n in tree.body if isinstance(n, ast.Assign) and any(getattr(t, 'id', '') == '__all__' for t in n.targets)]
        for a in alls:
            names = [e.value for e in a.elts]
            assert not [x for x in names if x.startswith('_')], f'{p.name}: private names in __all__'

def test_every_module_has_a_complete_one_line_docstring():
    for p in LIB.glob('*.py'):
        if p.stem.startswith('_') and p.stem != '__init__': continue
        doc = ast.get_docstring(ast.parse(p.read_text()))
        assert doc and '\n' not in doc.strip() and doc.strip().endswith('.'), f'{p.name}: {doc!r}'

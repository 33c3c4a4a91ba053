"tools/check_results.py: a fresh results table against the committed one (largest difference per column, exit status)."
import subprocess, sys
import pytest
from pathlib import Path
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e
TOOL = ROOT / 'tools' / 'check_results.py'

def _table():
    return pd.DataFrame({'backbone': ['resnet', 'resnet', 'vit'], 'variant': ['base', 'alignet', 'base'],
                         'acc_between_class': [0.48, 0.55, 0.32], 'rsa_r': [0.51, 0.69, 0.02], 'fewshot_5': [0.89, 0.86, float('nan')]})

def _run(*args):
    r = subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr

def test_identical_tables_differ_by_zero_and_pass(tmp_path):
    _table().to_csv(tmp_path / 'a.csv', index=False)
    _table().sample(frac=1, random_state=1).to_csv(tmp_path / 'b.csv', index=False)  # row order does not matter
    rc, out = _run(tmp_path / 'a.csv', '--committed', tmp_path / 'b.csv')
    assert rc == 0, out
    assert 'overall largest difference: 0 ' in out and 'PASS' in out and '3 rows matched' in out

def test_a_perturbed_value_is_reported_with_its_row_and_column_and_fails(tmp_path):
    t = _table(); t.to_csv(tmp_path / 'committed.csv', index=False)
    t.loc[(t.backbone == 'resnet') & (t.variant == 'alignet'), 'rsa_r'] += 0.05
    t.loc[(t.backbone == 'vit'), 'acc_between_class'] += 0.01
    t.to_csv(tmp_path / 'fresh.csv', index=False)
    rc, out = _run(tmp_path / 'fresh.csv', '--committed', tmp_path / 'committed.csv')
    assert rc == 1, out
    last = [l for l in out.splitlines() if l.startswith('overall')][0]
    assert 'in rsa_r at backbone=resnet, variant=alignet' in last and '0.05' in last, last
    col = [l for l in out.splitlines() if l.strip().startswith('acc_between_class')][0]
    assert 'backbone=vit, variant=base' in col and '0.01' in col, col
    assert 'FAIL' in out
    # a stated tolerance above the largest difference passes; just below it fails
    assert _run(tmp_path / 'fresh.csv', '--committed', tmp_path / 'committed.csv', '--tol', 0.0501)[0] == 0
    assert _run(tmp_path / 'fresh.csv', '--committed', tmp_path / 'committed.csv', '--tol', 0.0499)[0] == 1

def test_missing_rows_columns_and_values_fail(tmp_path):
    t = _table(); t.to_csv(tmp_path / 'committed.csv', index=False)
    t.iloc[:2].to_csv(tmp_path / 'fewer_rows.csv', index=False)
    rc, out = _run(tmp_path / 'fewer_rows.csv', '--committed', tmp_path / 'committed.csv')
    assert rc == 1 and "only committed rows: [['vit', 'base']]" in out, out
    t.drop(columns='rsa_r').to_csv(tmp_path / 'fewer_cols.csv', index=False)
    rc, out = _run(tmp_path / 'fewer_cols.csv', '--committed', tmp_path / 'committed.csv')
    assert rc == 1 and "only committed columns: ['rsa_r']" in out, out
    u = _table(); u.loc[0, 'fewshot_5'] = float('nan'); u.to_csv(tmp_path / 'nan.csv', index=False)
    rc, out = _run(tmp_path / 'nan.csv', '--committed', tmp_path / 'committed.csv')
    assert rc == 1 and 'inf in fewshot_5 at backbone=resnet, variant=base' in out, out

def test_unreadable_input_names_the_file(tmp_path):
    _table().to_csv(tmp_path / 'a.csv', index=False)
    rc, out = _run(tmp_path / 'nope.csv', '--committed', tmp_path / 'a.csv')
    assert rc == 2 and 'nope.csv: no such results table' in out

def test_the_committed_table_matches_itself():
    rc, out = _run(ROOT / 'figures' / 'results.csv')
    assert rc == 0 and 'overall largest difference: 0 ' in out, out


# ---------------------------------------------------------------- tools/compare_runs.py: two figure folders, value vs earlier interval
COMPARE = ROOT / 'tools' / 'compare_runs.py'

def _figures(d, shift=0.0, drop_vit=False):
    "The three tables compare_runs reads, with every value of the resnet AligNet rows moved by `shift`."
    d.mkdir()
    rows = [('resnet', 'base'), ('resnet', 'alignet')] + ([] if drop_vit else [('vit', 'base')])
    mv = lambda b, v: shift if (b, v) == ('resnet', 'alignet') else 0.0
    pd.DataFrame([dict(backbone=b, variant=v, kind=k, accuracy=0.5 + mv(b, v), lo=0.46, hi=0.54, ci_over='triplets') for b, v in rows
                  for k in ('between_class', 'within_class')]).to_csv(d / 'levels_accuracy.csv', index=False)
    pd.DataFrame([dict(backbone=b, variant=v, r_subject_mean=0.3 + mv(b, v), lo=0.2, hi=0.4, ci_over='stimuli') for b, v in rows]).to_csv(d / 'rsa.csv', index=False)
    pd.DataFrame([dict(backbone=b, variant=v, shots=s, accuracy=0.6 + mv(b, v), lo=0.55, hi=0.65) for b, v in rows for s in (1, 5)]).to_csv(d / 'fewshot.csv', index=False)

def test_compare_runs_flags_values_outside_the_earlier_interval_and_lists_missing_rows(tmp_path):
    _figures(tmp_path / 'old'); _figures(tmp_path / 'same'); _figures(tmp_path / 'new', shift=0.08, drop_vit=True)
    r = subprocess.run([sys.executable, str(COMPARE), tmp_path / 'old', tmp_path / 'same'], capture_output=True, text=True)
    assert r.returncode == 0 and '15 of 15 new values lie inside the earlier 95% interval' in r.stdout, r.stdout + r.stderr
    r = subprocess.run([sys.executable, str(COMPARE), tmp_path / 'old', tmp_path / 'new', '--out', tmp_path / 'c.csv'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    c = pd.read_csv(tmp_path / 'c.csv')
    both = c[c.present == 'both']
    # the resnet AligNet rows moved by 0.08: outside the earlier Levels and few-shot intervals; RSA 0.38 stays inside [0.2, 0.4]
    moved = both[(both.backbone == 'resnet') & (both.variant == 'alignet')]
    assert list(moved.new_inside_old_interval) == [False, False, True, False, False], moved
    assert both[both.variant == 'base'].new_inside_old_interval.all()
    assert (c[c.backbone == 'vit'].present == 'old only').all() and len(c[c.backbone == 'vit']) == 5
    assert r.stdout.count(' *\n') == 4  # the four values outside are starred
    assert 'RSA Spearman, participant mean (95% intervals over stimuli)' in r.stdout

def test_compare_runs_names_a_missing_table(tmp_path):
    _figures(tmp_path / 'old'); (tmp_path / 'new').mkdir()
    r = subprocess.run([sys.executable, str(COMPARE), tmp_path / 'old', tmp_path / 'new'], capture_output=True, text=True)
    assert r.returncode == 2 and 'levels_accuracy.csv: no such table' in r.stderr, r.stderr

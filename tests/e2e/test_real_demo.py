"The real-data plan (`align-nb real`) end to end through papermill, quick."
import json
import pytest
from align_nb.core import is_complete, shared_data_dir
from align_nb.real_demo import plan_real

pytestmark = pytest.mark.e2e
DATA = shared_data_dir()
needs_data = pytest.mark.skipif(DATA is None or not (DATA / 'mur92').is_dir(), reason='shared data folder absent')

@needs_data
def test_real_plan_end_to_end_quick(tmp_path):
    from align_nb.runner import run_jobs
    figs = tmp_path / 'figs'
    # quick mode, and 4 distillation steps instead of quick mode's 10 (test-only: nothing below depends on the steps)
    jobs = plan_real(runs_dir=tmp_path / 'runs', figures_dir=figs, quick=True, extra={'steps': 4})
    st = run_jobs(jobs, verbose=False)
    assert st.status.tolist() == ['complete'] * 4, st.to_string()
    for j in jobs:
        assert is_complete(j.run_dir) and (j.run_dir / 'metrics.json').is_file()
    m = json.loads((jobs[-1].run_dir / 'metrics.json').read_text())
    models = [r['model'] for r in m['rsa']]
    assert models == ['resnet20', 'resnet56', 'resnet56 + teacher', 'resnet20 alignet', 'resnet20 unalignet']
    for r in m['rsa']:
        assert -1 <= r['lo'] <= r['r_subject_mean'] <= r['hi'] <= 1 and r['n_stimuli'] == 46 and r['n_subjects'] == 16
        assert r['ci_over'] == 'stimuli' and r['r_pooled_lo'] <= r['r_pooled'] <= r['r_pooled_hi'] and r['r_pooled'] > r['r_subject_mean']
    ref = {r['reference']: r for r in m['things']}
    assert abs(ref['human noise ceiling (majority share)']['value'] - 0.672) < 0.01
    assert ref['human noise ceiling (leave-one-out)']['value'] < ref['human noise ceiling (majority share)']['value']
    for k in ('SPoSE 49d', 'SPoSE 66d', 'VICE 42d'):
        assert 0.62 < ref[k]['value'] < 0.65 and ref[k]['lo'] < ref[k]['value'] < ref[k]['hi'] and ref[k]['ci_over'] == 'triplets'
    for n in ('rsa_mur92_held_out', 'things_references'): assert (figs / f'{n}.png').stat().st_size > 1000 and (figs / f'{n}.csv').is_file()
    import pandas as pd
    t = pd.read_csv(figs / 'results.csv')
    assert len(t) == 10 and {'set', 'measure', 'value', 'lo', 'hi', 'ci_over', 'ceiling_lower', 'ceiling_upper', 'triplet_val_acc'} <= set(t.columns)
    assert set(t.set) == {'Mur92 held-out'} and (figs / 'results.md').is_file()
    assert set(t.measure) == {'RSA Spearman r (participant mean)', 'RSA Spearman r (vs pooled RDM)'} and set(t.ci_over) == {'stimuli'}
    assert t[t.measure == 'RSA Spearman r (vs pooled RDM)'].ceiling_upper.isna().all()  # the ceiling sits with the participant mean only
    assert t.triplet_val_acc.notna().sum() == 4  # the two students, two rows each
    assert (jobs[0].run_dir / 'triplets' / 'alignet' / 'train.npz').is_file() and (jobs[1].run_dir / 'training.png').is_file()

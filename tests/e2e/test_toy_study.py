"End to end: the toyworld study (teacher, triplets, distillation, evaluation, figures) through papermill in quick mode."
import json
import pandas as pd, pytest
from align_nb.core import is_complete, load_json

pytestmark = pytest.mark.e2e

@pytest.fixture(scope='module')
def study(toyworld_quick_study):
    "The quick toyworld study run once per pytest run (tests/conftest.py), shared with any other test that needs it."
    return toyworld_quick_study

def test_every_job_completes(study):
    d, jobs, st, _ = study
    assert list(st.status) == ['complete'] * len(jobs), st[['job', 'status', 'error']].to_string() if 'error' in st else st
    assert [j.name for j in jobs] == ['teacher', 'distill/resnet-alignet', 'distill/resnet-unalignet', 'eval/resnet-base',
                                      'eval/resnet-alignet', 'eval/resnet-unalignet', 'figures']
    for j in jobs:
        assert is_complete(j.run_dir) and (j.run_dir / 'notebook.ipynb').is_file() and (j.run_dir / 'params.json').is_file()

def test_rerun_skips_complete_runs_and_regenerates_figures(study):
    _, jobs, _, st2 = study
    assert list(st2.status) == ['skipped'] * (len(jobs) - 1) + ['complete']

def test_teacher_run_writes_official_triplet_files(study):
    d = study[0]
    import numpy as np
    for t in ('uncertainty_distillation', 'untransformed'):
        for s in ('train', 'val'):
            f = d / 'runs/toyworld/teacher/triplets' / t / f'{s}_cluster_border.npz'
            z = np.load(f)
            assert sorted(z.files) == ['filenames', 'indices', 'similarities']
            sims = z['similarities']
            assert (sims[:, 0] >= sims[:, 1:].max(1) - 1e-6).all()  # pair (0,1) most similar: image 2 is the odd one out
    m = load_json(d / 'runs/toyworld/teacher/metrics.json')
    assert m['report']['teacher (AligNet)']['accuracy'] > 1 / 3

def test_students_are_evaluated_with_their_own_weights(study):
    d = study[0]
    base = load_json(d / 'runs/toyworld/eval/resnet-base/metrics.json')
    al = load_json(d / 'runs/toyworld/eval/resnet-alignet/metrics.json')
    assert 'student' in al['weights'] and al['weights'] != base['weights']
    assert al['levels']['accuracy'] != base['levels']['accuracy']

def test_figures_each_with_their_csv_and_a_results_table(study):
    figs = study[0] / 'figs'
    for name in ('levels_accuracy', 'rsa', 'uncertainty', 'fewshot', 'shift', 'taxonomy_change', 'teacher_levels'):
        assert (figs / f'{name}.png').stat().st_size > 5000, name
        assert len(pd.read_csv(figs / f'{name}.csv')) > 0, name
    res = pd.read_csv(figs / 'results.csv')
    assert set(res.variant) == {'base', 'alignet', 'unalignet'}
    assert {'acc_between_class', 'acc_within_class', 'acc_class_border', 'acc_overall', 'rsa_r_subject_mean', 'rsa_r_pooled'} <= set(res.columns)
    lv = pd.read_csv(figs / 'levels_accuracy.csv')
    assert lv.ceiling.notna().all() and ((lv.lo <= lv.accuracy) & (lv.accuracy <= lv.hi)).all()
    assert (lv.ci_over == 'triplets').all() and (lv.ceiling_loo <= lv.ceiling + 1e-9).all()
    rsa = pd.read_csv(figs / 'rsa.csv')
    assert (rsa.ci_over == 'stimuli').all() and ((rsa.lo <= rsa.r_subject_mean) & (rsa.r_subject_mean <= rsa.hi)).all()
    paired = pd.read_csv(figs / 'levels_paired.csv')  # written by the figures paper from the run it reads
    assert list(paired.columns) == ['backbone', 'kind', 'comparison', 'difference', 'lo', 'hi', 'ci_over', 'n_triplets', 'n_answers']
    assert {'alignet - base', 'alignet - unalignet'} <= set(paired.comparison) and 'all' in set(paired.kind)
    assert (paired.ci_over == 'triplets').all() and ((paired.lo <= paired.difference) & (paired.difference <= paired.hi)).all()

def test_published_papers_show_results_and_no_noise(study):
    "The executed papers copied next to the figures: every one complete, with its Results, figures inline, no red boxes, no local paths."
    d, jobs, _, _ = study
    from align_nb.figures import publish_papers
    out = publish_papers(jobs, d / 'figs' / 'papers', runs_dir=d / 'runs', replace={str(d / 'cache'): '$ALIGN_NB_CACHE'})  # the study's own cache
    assert sorted(p.name for p in out) == sorted(j.name.replace('/', '_') + '.ipynb' for j in jobs)
    for p in out:
        txt = p.read_text(); nb = json.loads(txt)
        assert str(d) not in txt and 'start_time' not in txt, p.name
        outs = [o for c in nb['cells'] if c['cell_type'] == 'code' for o in c.get('outputs', [])]
        assert not [o for o in outs if o.get('name') == 'stderr' or o['output_type'] == 'error'], p.name  # no red boxes
        assert not [o for o in outs if 'application/vnd.jupyter.widget-view+json' in o.get('data', {})], p.name  # no "Loading widget..."
        md = [''.join(o['data']['text/markdown']) for o in outs if 'text/markdown' in o.get('data', {})]  # saved as a list of lines
        assert md and '95% interval' in md[-1], p.name  # the Results section, with its intervals
        n_png = sum('image/png' in o.get('data', {}) for o in outs)
        assert n_png >= {'figures.ipynb': 7, 'teacher.ipynb': 0}.get(p.name, 1), (p.name, n_png)

"""The full-scale study run end to end on CPU through the same notebooks and runner (`align-nb fullscale CONFIG`), on
2 processes per heavy step (fixture `fullscale_study`, shared with tests/e2e/test_fullscale_launch.py). The inputs:
tests/helpers.py `make_fullscale_inputs`."""
from pathlib import Path
import pandas as pd
import pytest
from align_nb.core import is_complete, load_json
from align_nb.fullscale import plan_fullscale, dry_run
from helpers import needs_data

pytestmark = pytest.mark.e2e

@needs_data
def test_fullscale_config_runs_end_to_end_through_the_real_notebooks(fullscale_study):
    cfg = fullscale_study['cfg']
    assert dry_run(cfg)['ok']
    assert fullscale_study['rc'] == 0, fullscale_study['status'].to_string()
    assert fullscale_study['status'].status.tolist() == ['complete'] * 4
    runs, figs = Path(cfg.runs_dir), Path(cfg.figures_dir)
    jobs = plan_fullscale(cfg)
    assert [j.name for j in jobs] == ['teacher', 'distill/regnetx_002-alignet', 'distill/regnetx_002-unalignet', 'evaluate']
    assert {j.notebook for j in jobs} == {'real_teacher.ipynb', 'real_distill.ipynb', 'real_evaluate.ipynb'}  # the demo's notebooks
    for j in jobs: assert is_complete(j.run_dir), j.name
    # teacher: THINGS triplets, local weights file, the ImageNet pool as a file list, streamed official triplet files
    tm = load_json(runs / 'teacher' / 'metrics.json')
    assert tm['study'] == 'fullscale' and tm['source'] == 'things' and tm['n_fit_triplets'] == 600 and tm['n_val_triplets'] == 150
    assert tm['weights'].endswith('resnet10t.pth') and tm['pool_size'] == 200 and tm['n_local'] == 100
    assert {r['lam'] for r in tm['lam_grid']} == {0.1, 1.0} and len(tm['heldout_triplets']) == 2
    pool = (runs / 'teacher' / 'pool_files.txt').read_text().splitlines()
    assert len(pool) == 200 and all(Path(p).is_file() and Path(p).suffix == '.JPEG' for p in pool)
    from align_nb.triplets import AlignetTriplets
    for v in ('alignet', 'unalignet'):
        assert tm['triplets'][v]['streamed'] is True
        tr = AlignetTriplets.load(runs / 'teacher' / 'triplets' / v / 'train.npz', strict=True)
        va = AlignetTriplets.load(runs / 'teacher' / 'triplets' / v / 'val.npz', strict=True)
        assert (len(tr), len(va)) == (350, 50) and tr.manifest['split'] == 'train' and va.manifest['n'] == 50
        assert set(tr.filenames.ravel()) <= {Path(p).name for p in pool}  # ImageNet basenames, as in the released files
    # students: the config's distill overrides on top of DistillConfig.paper()
    for v in ('alignet', 'unalignet'):
        dm = load_json(runs / 'distill' / f'regnetx_002-{v}' / 'metrics.json')
        assert dm['steps'] == 6 and dm['config']['loss'] == 'jsd' and dm['config']['tau'] == 100.0 and dm['config']['head_dim'] == 32
        assert 0 <= dm['val_acc'] <= 1
    # evaluation: THINGS, Levels and Mur92 for every model
    em = load_json(runs / 'evaluate' / 'metrics.json')
    assert em['n_boot'] == 100  # the config's n_boot reached the evaluation notebook
    sc = pd.DataFrame(em['scores'])
    assert list(dict.fromkeys(sc.model)) == ['resnet10t', 'resnet10t + teacher', 'regnetx_002', 'regnetx_002 alignet', 'regnetx_002 unalignet']
    assert set(sc.set) == {'THINGS', 'Levels', 'Mur92'}
    lv = sc[(sc.set == 'Levels') & (sc.model == 'resnet10t')]
    assert set(lv.subset) == {'all', 'between_class', 'within_class', 'class_border'} and lv[lv.subset == 'all'].n.iloc[0] == 120
    th = sc[(sc.set == 'THINGS') & (sc.subset == 'all') & (sc.measure == 'odd-one-out accuracy')]
    assert (th.n == 200).all() and th.ceiling_upper.between(1 / 3, 1).all() and (th.ceiling_lower <= th.ceiling_upper).all()
    # every interval names its unit; the temperature of the uncertainty rows was fitted on held-out triplets
    # (THINGS triplets repeat: their answers are resampled together; a set of single answers resamples trials)
    assert set(th.ci_over) == {'triplets'} and set(sc[sc.set != 'Mur92'].dropna(subset=['lo']).ci_over) <= {'triplets', 'trials'}
    assert set(sc[sc.measure.str.startswith('noise ceiling') | sc.measure.str.startswith('KL')].ci_over) == {'triplets'}
    assert set(sc[sc.set == 'Mur92'].ci_over) == {'stimuli'}
    temp = sc[sc.measure == 'temperature']
    assert len(temp) == 2 * 5 and temp.fitted_on.str.contains('held-out').all() and temp.fitted_on.str.contains(', 0 shared').all()
    assert set(sc[sc.set == 'Mur92'].measure) == {'RSA Spearman r (participant mean)', 'RSA Spearman r (vs pooled RDM)'}
    mu = sc[sc.set == 'Mur92']
    assert (mu.n == 92).all() and (mu.lo <= mu.value).all() and (mu.value <= mu.hi).all()
    for n in ('odd_things', 'odd_levels', 'rsa_mur92', 'things_references'):
        assert (figs / f'{n}.png').stat().st_size > 1000 and (figs / f'{n}.csv').is_file()
    res = pd.read_csv(figs / 'results.csv')
    assert len(res) == len(sc) and res.triplet_val_acc.notna().sum() == 2 * (sc.model == 'regnetx_002 alignet').sum()  # every row of the two students
    # a rerun with the same config skips every job (the evaluation is always rerun)
    assert fullscale_study['rc_rerun'] == 0 and fullscale_study['status_rerun'].status.tolist() == ['skipped'] * 3 + ['complete']

"""The full-scale study run end to end on CPU through the same notebooks and runner (`align-nb fullscale CONFIG`).

The inputs are small files in the documented formats: THINGS (unique_id.txt, trainset/validationset.txt, a 1-based
test_triplets.csv, one image per concept), a Levels pickle over real ImageNet-sample images, the shared ImageNet sample
as the ImageNet folder and Mur92 for RSA. Backbones are timm models (the teacher from a local weights file, the student
randomly initialised: no hub access here) at 32x32, with a handful of steps. The end-to-end run uses 2 processes per
heavy step and is shared with tests/test_fullscale_launch.py (fixture `fullscale_study`); the 1-process path of the same
plan runs end to end in tests/test_release.py (training from released triplet files).
"""
import os
os.environ['HF_HUB_OFFLINE'] = '1'
import json, pickle, shutil
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from align_nb.core import AlignNbError, shared_data_dir, is_complete, load_json
from align_nb.fullscale import FullScaleConfig, plan_fullscale, dry_run

DATA = shared_data_dir()
needs_data = pytest.mark.skipif(DATA is None or not (DATA / 'imagenet_sample').is_dir() or not (DATA / 'mur92').is_dir(),
                                reason='shared data folder absent')


def _choose(emb, trip):
    "Odd one out of each triplet under a hidden embedding: the item left out of the most similar pair (position)."
    e = emb[trip]
    s = np.stack([(e[:, 0] * e[:, 1]).sum(1), (e[:, 0] * e[:, 2]).sum(1), (e[:, 1] * e[:, 2]).sum(1)], 1)
    return np.array([2, 1, 0])[s.argmax(1)]


def make_fullscale_inputs(root, n_concepts=24):
    "Write THINGS / Levels files in their documented formats (images taken from the shared ImageNet sample); return a small FullScaleConfig."
    import timm
    from align_nb.backbones import save_backbone
    root = Path(root); rng = np.random.default_rng(0)
    inet = DATA / 'imagenet_sample' / 'train'
    classes = sorted(p.name for p in inet.iterdir() if p.is_dir())
    firsts = [sorted((inet / c).iterdir())[0] for c in classes]
    # THINGS: concept ids, one image per concept named <concept>_<nn><letter>.jpg
    ids = [f'concept{i:02d}' for i in range(n_concepts)]
    (root / 'things').mkdir(parents=True)
    (root / 'things' / 'unique_id.txt').write_text('\n'.join(ids) + '\n')
    for i, c in enumerate(ids):
        (root / 'object_images' / c).mkdir(parents=True)
        shutil.copy(firsts[i], root / 'object_images' / c / f'{c}_01b.jpg')
    emb = rng.normal(size=(n_concepts, 4))
    def triplets(n):
        t = np.array([rng.choice(n_concepts, 3, replace=False) for _ in range(n)])
        odd = _choose(emb, t)
        return np.take_along_axis(t, np.array([[1, 2, 0], [0, 2, 1], [0, 1, 2]])[odd], 1)  # odd one out last
    np.savetxt(root / 'things' / 'trainset.txt', triplets(600), fmt='%d')
    np.savetxt(root / 'things' / 'validationset.txt', triplets(150), fmt='%d')
    rows = []
    for t in np.array([rng.choice(n_concepts, 3, replace=False) for _ in range(40)]):
        for s in range(5):
            noisy = emb + rng.normal(0, .7, emb.shape)
            rows.append([*(t + 1), _choose(noisy, t[None])[0] + 1, s])
    pd.DataFrame(rows).to_csv(root / 'things' / 'test_triplets.csv', sep='\t', header=False, index=False)
    # Levels: participants' trials over ImageNet-sample images (paths as in the pickle: any folder, ImageNet basename)
    names = [p.name for p in firsts[:60]]
    trials = {}
    for p in range(4):
        tr = []
        for j in range(30):
            a, b, c = rng.choice(len(names), 3, replace=False)
            kind = ['between_class', 'within_class', 'class_border'][j % 3]
            tr.append({'image1Path': f'imgs/{names[a]}', 'image2Path': f'imgs/{names[b]}', 'image3Path': f'imgs/{names[c]}',
                       'selected_image': f'imgs/{names[[a, b, c][j % 3]]}', 'exp_trial_type': 'exp_trial', 'triplet_type': kind, 'rt': 1.0 + j / 30})
        tr.append(dict(tr[0], exp_trial_type='catch_trial'))
        trials[f'participant{p}'] = tr
    with open(root / 'levels.pkl', 'wb') as f: pickle.dump(trials, f)
    # the teacher's backbone weights as a local file (offline: no hub)
    save_backbone(timm.create_model('resnet10t', num_classes=0), root / 'weights' / 'resnet10t.pth', name='resnet10t')
    return FullScaleConfig(
        things_triplets_dir=str(root / 'things'), things_images_dir=str(root / 'object_images'), things_ids=str(root / 'things' / 'unique_id.txt'),
        things_test_triplets=str(root / 'things' / 'test_triplets.csv'), imagenet_train_dir=str(DATA / 'imagenet_sample'),
        levels_pkl=str(root / 'levels.pkl'), mur92_dir=str(DATA / 'mur92'),
        teacher_backbone='resnet10t', weights_files={'resnet10t': str(root / 'weights' / 'resnet10t.pth')},
        students=('regnetx_002',), students_pretrained=False, image_size=32, pool_size=200, local_size=100,
        n_triplets=400, n_val_triplets=50, k=4, stream_triplets=True, teacher_lams=(0.1, 1.0), teacher={'max_epochs': 3, 'batch_size': 128},
        distill={'steps': 6, 'batch_size': 8, 'warmup': 1, 'eval_every': 3, 'checkpoint_every': 3, 'log_every': 1, 'num_workers': 0, 'head_dim': 32},
        runs_dir=str(root / 'runs'), figures_dir=str(root / 'figures'), device='cpu', batch_size=64,
        num_workers=1,  # feature extraction through a DataLoader worker, the path a GPU run takes (1: the machine has 2 cores)
        n_boot=100)  # bootstrap resamples of the evaluation's intervals (the default 1000 dominated this test's time)


def fullscale_two_process_study(d):
    """The small full-scale plan run through `align-nb fullscale` in folder `d` with 2 processes per heavy step (gloo on
    CPU), then run again with the same config; returns the config, both exit codes and both status tables.
    Built once per pytest run (fixture `fullscale_study` in tests/conftest.py) and read by this file's end-to-end test and
    by tests/test_fullscale_launch.py (one run instead of two; the 1-process path runs end to end in tests/test_release.py
    and tests/test_realexp.py, through the same notebooks)."""
    from align_nb.cli import main
    cfg = make_fullscale_inputs(d / 'in')
    cfg.nproc_per_node = 2
    cfg.to_json(d / 'fullscale.json')
    rc = main(['fullscale', str(d / 'fullscale.json')])
    st = pd.read_csv(Path(cfg.runs_dir) / 'status.csv')
    rc2 = main(['fullscale', str(d / 'fullscale.json')])  # the same config again: every job but the evaluation skipped
    st2 = pd.read_csv(Path(cfg.runs_dir) / 'status.csv')
    return dict(cfg=cfg, config_file=d / 'fullscale.json', rc=rc, status=st, rc_rerun=rc2, status_rerun=st2)


@needs_data
@pytest.mark.xdist_group('fullscale_study')  # with tests/test_fullscale_launch.py, which reads the same run
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


@needs_data
def test_fullscale_stops_before_running_when_the_dry_run_fails(tmp_path, capsys):
    from align_nb.cli import main
    cfg = make_fullscale_inputs(tmp_path / 'in')
    cfg.levels_pkl = str(tmp_path / 'missing.pkl'); cfg.students = ('vit_nope_xyz',)
    cfg.to_json(tmp_path / 'bad.json')
    assert main(['fullscale', str(tmp_path / 'bad.json')]) == 1
    err = capsys.readouterr()
    assert '2 problem(s)' in err.err and 'missing.pkl' in err.out and 'vit_nope_xyz' in err.out
    assert not Path(cfg.runs_dir).exists()


def test_changed_config_changes_the_notebook_parameters(tmp_path):
    cfg = FullScaleConfig(runs_dir=str(tmp_path / 'runs'), students=('resnet10t',), device='cpu')
    a = plan_fullscale(cfg)
    b = plan_fullscale(FullScaleConfig(**{**cfg.__dict__, 'seed': 1}))
    assert a[0].parameters['config'] != b[0].parameters['config'] and Path(a[0].parameters['config']).is_file()
    assert FullScaleConfig.from_json(a[0].parameters['config']) == cfg
    assert a[0].parameters['backbone'] == cfg.teacher_backbone and a[0].parameters['lams'] == '0.01,0.1,1.0'


def test_fullscale_config_rejects_bad_values(tmp_path):
    with pytest.raises(AlignNbError, match='variants'): FullScaleConfig(variants=('base',))
    with pytest.raises(AlignNbError, match='n_val_triplets'): FullScaleConfig(n_triplets=10, n_val_triplets=10)
    with pytest.raises(AlignNbError, match=r"unknown fit_teacher option\(s\) \['lam'\]"): FullScaleConfig(teacher={'lam': 1})
    (tmp_path / 'c.json').write_text(json.dumps({'students': []}))
    with pytest.raises(AlignNbError, match=r'c\.json: .*at least one'): FullScaleConfig.from_json(tmp_path / 'c.json')

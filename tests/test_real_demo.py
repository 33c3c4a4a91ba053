"Tests of align_nb.real_demo (Mur92 split, RDM-derived triplet targets, the real-data plan end to end) and of the full-scale dry run (align_nb.fullscale)."
import os
os.environ['HF_HUB_OFFLINE'] = '1'
import json, pickle
from dataclasses import asdict
from pathlib import Path
import numpy as np
import pytest
from align_nb.core import AlignNbError, shared_data_dir
from align_nb.real_demo import (stratified_half_split, mur92_split, mur92_strata, rdm_triplet_probs, rdm_choice_counts, human_rdm_targets,
                              all_triplets, plan_real)
from align_nb.study import cifar_weights_file
from align_nb.fullscale import FullScaleConfig, dry_run, npz_shapes

DATA = shared_data_dir()
needs_data = pytest.mark.skipif(DATA is None or not (DATA / 'mur92').is_dir(), reason='shared data folder absent')


def test_stratified_half_split_is_disjoint_complete_and_balanced():
    strata = np.array(['a'] * 7 + ['b'] * 6 + ['c'] * 3 + ['d'])
    tr, te = stratified_half_split(strata, seed=3)
    assert len(np.intersect1d(tr, te)) == 0
    assert sorted(np.r_[tr, te].tolist()) == list(range(len(strata)))
    for k in 'abcd': assert abs((strata[tr] == k).sum() - (strata[te] == k).sum()) <= 1
    assert abs(len(tr) - len(te)) <= 1  # odd strata alternate which half gets the extra item
    assert np.array_equal(stratified_half_split(strata, seed=3)[0], tr)
    assert not all(np.array_equal(stratified_half_split(strata, seed=s)[0], tr) for s in range(4, 8))


@needs_data
def test_mur92_split_is_stratified_by_category_flags():
    from align_nb.realdata import load_mur92
    mur = load_mur92(DATA / 'mur92')
    tr, te = mur92_split(mur, seed=0)
    assert len(tr) == len(te) == 46 and len(np.intersect1d(tr, te)) == 0
    strata = mur92_strata(mur)
    assert set(strata) == {'human+body', 'human+face', 'nonhumani+body', 'nonhumani+face', 'natObj', 'artiObj'}
    for k in set(strata): assert abs((strata[tr] == k).sum() - (strata[te] == k).sum()) <= 1


def test_rdm_triplet_targets_on_hand_made_rdm():
    D = np.array([[0, .1, .9, .5], [.1, 0, .8, .6], [.9, .8, 0, .2], [.5, .6, .2, 0]])
    p = rdm_triplet_probs(D, [[0, 1, 2], [1, 2, 3]], temperature=0.5)
    e = np.exp(-np.array([.1, .9, .8]) / .5); assert np.allclose(p[0], e / e.sum())
    e = np.exp(-np.array([.8, .6, .2]) / .5); assert np.allclose(p[1], e / e.sum())  # pairs (1,2), (1,3), (2,3)
    # pair (0,1) closest -> item at position 2 is the odd one out; pair (2,3) closest in [1,2,3] -> position 0
    assert rdm_choice_counts(D, [[0, 1, 2], [1, 2, 3]]).tolist() == [[0, 0, 1], [1, 0, 0]]
    tie = np.array([[0, .3, .3], [.3, 0, .9], [.3, .9, 0]])  # pairs (0,1) and (0,2) tie: vote split between positions 2 and 1
    assert rdm_choice_counts(tie, [[0, 1, 2]]).tolist() == [[0, .5, .5]]


def test_human_rdm_targets_temperature_fits_participants():
    rng = np.random.default_rng(0)
    base = rng.random((8, 8)); base = (base + base.T) / 2; np.fill_diagonal(base, 0)
    subj = []
    for s in range(30):
        n = rng.normal(0, .15, (8, 8)); n = (n + n.T) / 2; np.fill_diagonal(n, 0); subj.append(np.abs(base + n))
    t = human_rdm_targets(np.array(subj), all_triplets(range(8)))
    assert t['probs'].shape == (56, 3) and np.allclose(t['probs'].sum(1), 1)
    assert np.array_equal(t['odd'], 2 - t['probs'].argmax(1))
    assert t['counts'].sum(1).tolist() == [30] * 56
    # noisier participants -> a softer (higher) temperature
    noisy = [np.abs(base + 3 * (x - base)) for x in subj]
    assert human_rdm_targets(np.array(noisy), all_triplets(range(8)))['temperature'] > t['temperature']


def _fixture(root):
    from PIL import Image
    root = Path(root); ids = ['aardvark', 'abacus', 'accordion', 'acorn']
    (root / 'things').mkdir(parents=True)
    (root / 'things' / 'unique_id.txt').write_text('\n'.join(ids) + '\n')
    (root / 'things' / 'trainset.txt').write_text('0 1 2\n3 1 0\n')
    (root / 'things' / 'validationset.txt').write_text('2 3 1\n')
    (root / 'things' / 'test_triplets.csv').write_text('1\t2\t3\t1\t7\n2\t3\t4\t3\t8\n')
    for c in ids:
        (root / 'images' / c).mkdir(parents=True)
        Image.new('RGB', (8, 8)).save(root / 'images' / c / f'{c}_01b.jpg')
    names = ['n01_1.JPEG', 'n01_2.JPEG', 'n02_1.JPEG']
    for n in names:
        (root / 'imagenet' / 'train' / n.split('_')[0]).mkdir(parents=True, exist_ok=True)
        Image.new('RGB', (8, 8)).save(root / 'imagenet' / 'train' / n.split('_')[0] / n, format='JPEG')
    tr = {'image1Path': f'a/{names[0]}', 'image2Path': f'a/{names[1]}', 'image3Path': f'a/{names[2]}', 'selected_image': f'a/{names[2]}',
          'exp_trial_type': 'exp_trial', 'triplet_type': 'class_border', 'rt': 1.2}
    with open(root / 'levels.pkl', 'wb') as f: pickle.dump({'p1': [tr, dict(tr, exp_trial_type='catch')]}, f)
    (root / 'npz').mkdir()
    np.savez(root / 'npz' / 'triplets.npz', filenames=np.array([names]), similarities=np.array([[3., 1., 0.]], np.float32), indices=np.array([[0, 1, 2]]))
    return FullScaleConfig(things_triplets_dir=str(root / 'things'), things_images_dir=str(root / 'images'), things_ids=str(root / 'things' / 'unique_id.txt'),
                           things_test_triplets=str(root / 'things' / 'test_triplets.csv'), imagenet_train_dir=str(root / 'imagenet'),
                           levels_pkl=str(root / 'levels.pkl'), alignet_npz_dir=str(root / 'npz'))


def test_dry_run_passes_on_documented_formats(tmp_path):
    cfg = _fixture(tmp_path)
    rep = dry_run(cfg)
    assert rep['ok'] and rep['problems'] == []
    c = rep['checks']
    assert c['things_ids']['n_concepts'] == 4 and c['things_triplets/trainset.txt']['rows_checked'] == 2
    assert c['things_test_triplets']['rows_checked'] == 2
    assert c['levels_pkl']['n_trials'] == 1 and c['levels_pkl']['n_images'] == 3
    assert c['alignet_npz_dir']['files']['triplets.npz']['similarities'] == [1, 3]
    assert all(c[f'model/students[{i}]']['ok'] for i in range(4)) and c['model/teacher_backbone']['ok']
    assert c['distill_config']['config']['steps'] == 100_000  # DistillConfig.paper()


def test_dry_run_reads_only_the_head_of_big_files(tmp_path):
    cfg = _fixture(tmp_path)
    p = Path(cfg.things_triplets_dir) / 'trainset.txt'
    p.write_text('0 1 2\n' * 50 + 'garbage line\n')
    assert dry_run(cfg, max_rows=20)['checks']['things_triplets/trainset.txt']['rows_checked'] == 20
    with pytest.raises(AlignNbError, match='line 51'): dry_run(cfg, max_rows=100)


@needs_data
def test_dry_run_on_shared_data(tmp_path):
    cfg = _fixture(tmp_path)
    cfg.things_ids = str(DATA / 'things' / 'unique_id.txt'); cfg.things_test_triplets = str(DATA / 'things' / 'test_triplets.csv')
    cfg.imagenet_train_dir = str(DATA / 'imagenet_sample')
    rep = dry_run(cfg, raise_on_error=False)
    assert rep['checks']['things_ids']['n_concepts'] == 1854 and rep['checks']['things_test_triplets']['ok']
    assert rep['checks']['imagenet_train_dir']['n_classes'] == 196
    # the fixture's 4 concept folders do not cover the 1854 THINGS concepts; the Levels images are not in the sample
    assert {p.split(':')[0] for p in rep['problems']} == {'things_images_dir', 'levels_pkl'}


def test_dry_run_lists_every_problem(tmp_path):
    cfg = _fixture(tmp_path)
    (Path(cfg.things_triplets_dir) / 'validationset.txt').write_text('2 3 1 0\n')  # 4 columns
    (Path(cfg.alignet_npz_dir) / 'bad.npz').write_bytes(b'not a zip')
    bad = FullScaleConfig(**{**asdict(cfg), 'levels_pkl': str(tmp_path / 'missing.pkl'), 'teacher_backbone': 'vit_does_not_exist',
                             'students': ('vit_base_patch16_224', 'vit_base_patch16_224.no_such_tag'), 'imagenet_train_dir': ''})
    rep = dry_run(bad, raise_on_error=False)
    keys = sorted(p.split(':')[0] for p in rep['problems'])
    assert keys == ['alignet_npz_dir', 'imagenet_train_dir', 'levels_pkl', 'model/students[1]', 'model/teacher_backbone', 'things_triplets/validationset.txt']
    with pytest.raises(AlignNbError) as e: dry_run(bad)
    msg = str(e.value)
    assert '6 problem(s)' in msg and 'missing.pkl' in msg and 'vit_does_not_exist' in msg and 'no_such_tag' in msg and 'expected 3' in msg


def test_fullscale_config_json_roundtrip_and_unknown_keys(tmp_path):
    cfg = FullScaleConfig(levels_pkl='x.pkl', distill={'steps': 10, 'warmup': 1})
    cfg.to_json(tmp_path / 'c.json')
    assert FullScaleConfig.from_json(tmp_path / 'c.json') == cfg
    assert cfg.distill_config().steps == 10 and cfg.distill_config().batch_size == 512
    (tmp_path / 'u.json').write_text(json.dumps({'levels_pkl': 'x', 'lr': 1}))
    with pytest.raises(AlignNbError, match=r"unknown key\(s\) \['lr'\]"): FullScaleConfig.from_json(tmp_path / 'u.json')


def test_npz_shapes_reads_headers(tmp_path):
    np.savez(tmp_path / 'a.npz', x=np.zeros((5, 3), np.float32), y=np.arange(4))
    assert npz_shapes(tmp_path / 'a.npz') == {'x': ((5, 3), '<f4'), 'y': ((4,), np.arange(4).dtype.str)}


@needs_data
def test_plan_real_jobs_and_dependencies(tmp_path):
    jobs = plan_real(runs_dir=tmp_path, figures_dir=tmp_path / 'figs', quick=True)
    assert [j.name for j in jobs] == ['teacher', 'distill/resnet20-alignet', 'distill/resnet20-unalignet', 'evaluate']
    assert jobs[0].parameters['backbone'] == 'resnet56' and jobs[1].parameters['backbone'] == 'resnet20'
    assert jobs[-1].depends == ['teacher', 'distill/resnet20-alignet', 'distill/resnet20-unalignet'] and jobs[-1].always
    assert all(j.parameters['quick'] is True for j in jobs)




def test_dry_run_lists_bad_teacher_targets_sampling_and_human_embedding(tmp_path):
    "teacher_targets / sampling / human_embedding of a FullScaleConfig are checked by the dry run, one problem line each."
    cfg = FullScaleConfig(things_ids=str(tmp_path / 'ids.txt'), teacher_targets='oracle', sampling='twice',
                          human_embedding=str(tmp_path / 'vice_missing.npy'), students=('resnet10t',))
    rep = dry_run(cfg, raise_on_error=False)
    probs = rep['problems']
    assert any(p.startswith('teacher_targets:') and "'oracle'" in p for p in probs), probs
    assert any(p.startswith('sampling:') and "'twice'" in p for p in probs), probs
    assert any(p.startswith('human_embedding:') and 'vice_missing.npy' in p for p in probs), probs
    ok = dry_run(FullScaleConfig(things_ids=str(tmp_path / 'ids.txt'), students=('resnet10t',)), raise_on_error=False)['problems']
    assert not any(p.split(':')[0] in ('teacher_targets', 'sampling', 'human_embedding') for p in ok)
    assert FullScaleConfig().teacher_targets == 'model' and FullScaleConfig().sampling == 'shared'


@needs_data
def test_mur92_teacher_validation_uses_participants_choice_distributions():
    from align_nb.real_demo import mur92_teacher_data
    td, _ = mur92_teacher_data(DATA, seed=0)
    assert td.targets == 'model' and td.val_probs.shape == (len(td.val), 3)
    assert np.allclose(td.val_probs.sum(1), 1) and ((td.val_probs > 0) & (td.val_probs < 1)).any()  # distributions, not argmax labels
    assert td.info['teacher_val_targets'] == "participants' choice distributions"

"Released AligNet data: official layout over the shared ImageNet sample, inspect on correct and broken files, reorder, official writer."
from pathlib import Path
import numpy as np
import pytest
from align_nb.release import ReleaseTriplets
from align_nb.core import AlignNbError
from align_nb import release as R

from helpers import IMAGENET_SAMPLE as SAMPLE
pytestmark = pytest.mark.skipif(not SAMPLE.is_dir(), reason='shared ImageNet sample not found')


def _inspect(p, rel, **kw):
    return R.inspect_triplets(p, images=SAMPLE, filenames=rel['root'] / R.TFDS_LIST_NAME, features=rel['root'] / 'activations.npz', min_feature_agreement=0.99, **kw)

def test_open_release_by_official_name(rel):
    t = R.open_release(rel['root'], 'uncertainty_distillation', 'train', 'cluster_border_500', images=SAMPLE, filenames=rel['root'] / R.TFDS_LIST_NAME)
    assert len(t) == 600 and all(isinstance(getattr(t, k), np.memmap) for k in ('filenames', 'similarities', 'indices'))
    assert all(p.is_file() for p in t.image_paths(0))
    assert t.image_paths(0)[0].parent.name == str(t.filenames[0, 0]).split('_')[0]
    with pytest.raises(FileNotFoundError, match='no such release file'): R.open_release(rel['root'], 'untransformed')

def test_compressed_release_is_extracted_once_and_reported(rel, tmp_path):
    with np.load(rel['train'], allow_pickle=False) as z: d = {k: z[k] for k in z.files}
    p = tmp_path / 'uncertainty_distillation' / 'train_cluster_border_500.npz'; p.parent.mkdir()
    np.savez_compressed(p, **d)
    msgs = []
    t = R.open_release(tmp_path, log=msgs.append, cache_dir=tmp_path / 'cache')
    assert len(msgs) == 3 and all('compressed' in m and 'extracted once' in m for m in msgs)
    assert 'extracted copy' in t.how['indices'] and (np.asarray(t.indices) == d['indices']).all()
    msgs.clear(); R.open_release(tmp_path, log=msgs.append, cache_dir=tmp_path / 'cache'); assert msgs == []

def test_object_arrays_are_refused(tmp_path):
    p = tmp_path / 'uncertainty_distillation' / 'train_cluster_border_500.npz'; p.parent.mkdir()
    np.savez(p, filenames=np.array([['a', 'b', 'c']], dtype=object), similarities=np.zeros((1, 3)), indices=np.zeros((1, 3), int))
    with pytest.raises(AlignNbError, match='Python objects'): R.open_release(tmp_path)

def test_correct_file_passes(rel):
    r = _inspect(rel['train'], rel)
    assert r['ok'], r['problems']
    assert r['ordering']['share_s01_largest'] == 1.0 and r['index_check']['mismatching_rows'] == 0 and r['images']['rows_with_missing'] == 0
    assert r['features']['argmax_agreement'] == 1.0 and r['features']['similarity'] == 'dot'
    assert r['verdict'].startswith('OK') and 'what its name claims' in r['verdict']


@pytest.mark.parametrize('kind,field', [('misordered', ('ordering', 'misordered_first')), ('images_permuted', ('features', 'disagreeing_first')),
                                        ('wrong_indices', ('index_check', 'first')), ('missing_images', ('images', 'first')),
                                        ('duplicates', None)])
def test_inspect_catches_each_broken_file_with_rows(rel, broken, kind, field):
    p, bad = broken[kind]
    r = _inspect(p, rel)
    assert not r['ok'] and r['verdict'].startswith('NOT AS CLAIMED')
    if field is not None:
        got = r[field[0]][field[1]]
        assert [x for x in got if x != '...'] == bad[:20].tolist(), (kind, got, bad[:20])
    else:
        dup = [int(s.split()[1]) for s in r['duplicates']['first']]
        assert set(dup) == set(bad[1:].tolist()) & set(dup) and len(dup) == min(len(bad) - 1, 20)
        assert r['repeated_images']['first'][:1] == [int(bad[0])]
    others = {'misordered': 'ordering', 'wrong_indices': 'indices', 'missing_images': 'missing'}
    if kind in others: assert sum(others[kind] in q or 'NOT last' in q for q in r['problems']) >= 1

def test_images_permuted_is_invisible_without_features(rel, broken):
    "Similarities left in place while the images rotate: the ordering statistics cannot see it, the features can."
    p, bad = broken['images_permuted']
    r = R.inspect_triplets(p, images=SAMPLE, filenames=rel['root'] / R.TFDS_LIST_NAME)
    assert r['ok'] and r['ordering']['share_s01_largest'] == 1.0

def test_misordered_rank_order_and_reorder(rel, broken, tmp_path):
    p, bad = broken['misordered']
    r = R.inspect_triplets(p)
    assert r['ordering']['misordered_rows'] == len(bad)
    assert r['ordering']['share_s12_largest'] == pytest.approx(len(bad) / 600)
    out = tmp_path / 'fixed.npz'
    info = R.reorder_file(p, out); assert info['rows_permuted'] == len(bad)
    assert _inspect(out, rel)['ok']
    with np.load(out) as a, np.load(rel['train']) as b:
        assert (np.sort(a['filenames'], 1) == np.sort(b['filenames'], 1)).all()
        assert (a['similarities'][:, 0] >= a['similarities'][:, 1:].max(1)).all()
        # rows that were fine are unchanged
        ok = np.setdiff1d(np.arange(600), bad)
        for k in ('filenames', 'similarities', 'indices'): assert (a[k][ok] == b[k][ok]).all()

def test_wholly_misordered_file_best_permutation(rel, tmp_path):
    "A file whose every row has the odd one out first: the best rank-order / permutation names it."
    b = R.write_broken_copies(rel['train'], tmp_path, rows=np.arange(600), kinds=('misordered',))
    r = R.inspect_triplets(b['misordered'][0])
    assert r['ordering']['share_s01_largest'] == 0 and r['ordering']['share_s12_largest'] == 1.0
    assert r['ordering']['best_permutation'][2] == 0  # the claimed last image is stored first


def test_official_loader_reads_our_files_as_our_filenames(rel, tmp_path):
    "Emulate the official loader (indices into the tfds list) on files our generator wrote: the same images as our filenames."
    for split in ('train', 'val'):
        got = R.official_loader_images(rel['root'], 'uncertainty_distillation', split, 'cluster_border_500', rel['tfds'])
        with np.load(rel[split]) as z: assert (got == z['filenames']).all() and z['indices'].max() < len(rel['tfds'])
        assert str(np.load(rel[split])['index_source'][0]) == R.TFDS_LIST_NAME
    assert rel['train'].relative_to(rel['root']).as_posix() == 'uncertainty_distillation/train_cluster_border_500.npz'

def test_pool_list_written_beside_when_no_tfds_list(rel, tmp_path):
    t = R.ReleaseTriplets(rel['train'])
    p = R.write_official(rel['train'], tmp_path, 'untransformed', 'train', 'cluster_border_500')
    assert (p.parent / R.POOL_LIST_NAME).is_file() and R.ReleaseTriplets(p).index_source == R.POOL_LIST_NAME
    got = R.official_loader_images(tmp_path, 'untransformed', 'train', 'cluster_border_500', p.parent / R.POOL_LIST_NAME)
    assert (got == np.asarray(t.filenames)).all()
    r = R.inspect_triplets(p); assert r['ok'] and r['index_check']['mismatching_rows'] == 0

def test_activations_as_teacher_features_and_clusters(rel):
    rf = R.open_activations(rel['root'] / 'activations.npz')
    assert len(rf) == len(rel['tfds']) and rf.clusters.max() < 40
    from align_nb.triplets import ordered_similarities
    t = R.ReleaseTriplets(rel['train'])
    trip, s = ordered_similarities(rf.features, np.asarray(t.indices[:50]))
    assert np.allclose(s, np.asarray(t.similarities[:50]) * 0.5, atol=1e-4)  # the file stores similarities / T (T = 0.5)

def test_release_training_data(rel):
    d = R.release_training_data(rel['root'], SAMPLE, filenames=rel['root'] / R.TFDS_LIST_NAME, log=lambda s: None)
    assert d['train_idx'].shape == (600, 3) and d['val_idx'].shape == (100, 3)
    pool = d['pool']
    with np.load(rel['train']) as z: assert [pool.ids[j] for j in d['train_idx'][5]] == z['filenames'][5].tolist()
    d2 = R.release_training_data(rel['root'], SAMPLE, inspect=False, log=lambda s: None)  # no list: pool from the filenames
    assert [d2['pool'].ids[j] for j in d2['train_idx'][5]] == [pool.ids[j] for j in d['train_idx'][5]]


@pytest.mark.parametrize('with_tfds', [True, False])
def test_make_alignet_triplets_writes_official_names(rel, tmp_path, with_tfds):
    "The generator writes the official name; the official loader's reading (indices into the named list) gives our filenames."
    from align_nb.teacher import Teacher
    from align_nb.study import make_alignet_triplets
    feats = rel['feats'].astype(np.float64); ids = list(rel['tfds'][::-1])  # a pool in another order than the tfds list
    tfds = rel['root'] / R.TFDS_LIST_NAME if with_tfds else None
    info = make_alignet_triplets(Teacher.identity(feats), feats, ids, tmp_path / 'run', 300, 50, 'cluster_border', 5, release_root=tmp_path / 'rel',
                                 release_transform='untransformed', tfds_filenames=tfds)
    assert sorted(info['official']) == ['train', 'val']
    for split in ('train', 'val'):
        p = Path(info['official'][split]); assert p.relative_to(tmp_path / 'rel').as_posix() == f'untransformed/{split}_cluster_border_5.npz'
        t = R.ReleaseTriplets(p)
        names = rel['tfds'] if with_tfds else np.load(p.parent / R.POOL_LIST_NAME)
        assert t.index_source == (R.TFDS_LIST_NAME if with_tfds else R.POOL_LIST_NAME)
        got = R.official_loader_images(tmp_path / 'rel', 'untransformed', split, 'cluster_border_5', names)
        with np.load(tmp_path / 'run' / f'{split}.npz') as z: assert (got == z['filenames']).all() and (np.asarray(t.filenames) == z['filenames']).all()
        if with_tfds: assert not (np.asarray(t.indices) == np.load(tmp_path / 'run' / f'{split}.npz')['indices']).all()  # re-indexed into the tfds order
        assert R.inspect_triplets(p, images=SAMPLE)['ok']

def test_dry_run_checks_the_release_files(rel):
    from align_nb.fullscale import FullScaleConfig, dry_run
    ok = dry_run(FullScaleConfig(alignet_release_dir=str(rel['root']), variants=('alignet',)), raise_on_error=False)['checks']['alignet_release_dir']
    assert ok['ok'] and ok['files']['uncertainty_distillation/train_cluster_border_500.npz']['indices'] == [600, 3]
    bad = dry_run(FullScaleConfig(alignet_release_dir=str(rel['root'])), raise_on_error=False)  # unalignet: no untransformed/ files
    assert not bad['checks']['alignet_release_dir']['ok'] and 'untransformed/train_cluster_border_500.npz' in bad['checks']['alignet_release_dir']['error']


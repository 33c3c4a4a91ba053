"Unit tests of align_nb.triplets: sampling schemes, ordering by the teacher, official .npz layout."
import os, json, warnings
os.environ['HF_HUB_OFFLINE'] = '1'
import numpy as np
import pytest
from align_nb.core import AlignNbError
from align_nb.data import ArrayImages
from align_nb.teacher import Teacher
from align_nb.evaluate import triplet_similarities
from align_nb.triplets import AlignetTriplets, generate_triplets, kmeans, sample_triplets, n_possible, SCHEMES

OFFICIAL = {'filenames', 'similarities', 'indices'}


@pytest.fixture(scope='module')
def pool():
    rng = np.random.default_rng(0)
    cls = np.repeat(np.arange(6), 20)
    emb = (rng.normal(0, 2, (6, 8))[cls] + rng.normal(0, 1, (120, 8))).astype(np.float32)
    return emb, cls


def unordered(idx):
    return {tuple(sorted(r)) for r in idx.tolist()}


def check_property(scheme, g):
    "The scheme's defining property on every row of group labels g (n, 3), in any positions."
    n_distinct = np.array([len(set(r)) for r in g.tolist()])
    if scheme.startswith('between'): assert (n_distinct == 3).all()
    elif scheme.startswith('within'): assert (n_distinct == 1).all()
    elif scheme.endswith('border'): assert (n_distinct == 2).all()


@pytest.mark.parametrize('scheme', [s for s in SCHEMES if s != 'random'])
def test_every_triplet_has_the_scheme_property(pool, scheme):
    emb, cls = pool
    t = generate_triplets(emb, 300, scheme, labels=cls, k=5, seed=3, progress=False)
    groups = cls if 'class' in scheme else kmeans(emb, 5, seed=3)[0]  # the clusters generate_triplets used
    check_property(scheme, groups[t.indices])
    np.testing.assert_array_equal(t.groups, groups[t.indices])


def test_cluster_labels_can_be_given(pool):
    emb, cls = pool
    lab = np.arange(120) % 7
    t = generate_triplets(emb, 200, 'cluster_border', k=lab, progress=False)
    check_property('cluster_border', lab[t.indices])
    assert t.manifest['k'] == 7


@pytest.mark.parametrize('scheme', SCHEMES)
def test_no_duplicate_triplets(pool, scheme):
    emb, cls = pool
    t = generate_triplets(emb, 500, scheme, labels=cls, k=5, progress=False)
    assert len(unordered(t.indices)) == 500
    assert all(len(set(r)) == 3 for r in t.indices.tolist())


def test_seeded_determinism(pool):
    emb, cls = pool
    a = generate_triplets(emb, 200, 'class_border', labels=cls, seed=7, progress=False)
    b = generate_triplets(emb, 200, 'class_border', labels=cls, seed=7, progress=False)
    c = generate_triplets(emb, 200, 'class_border', labels=cls, seed=8, progress=False)
    np.testing.assert_array_equal(a.indices, b.indices); np.testing.assert_array_equal(a.similarities, b.similarities)
    assert not np.array_equal(a.indices, c.indices)


def test_pair01_most_similar_and_divided_by_temperature():
    emb = np.array([[1., 0.], [0., 1.], [1., 0.1]])  # s(0,1) = 0, s(0,2) = 1, s(1,2) = 0.1
    t = generate_triplets(emb, 1, 'random', temperature=0.5, progress=False)
    assert t.indices[0, 2] == 1 and set(t.indices[0, :2]) == {0, 2}  # item 1 is the odd one out
    a, b, c = t.indices[0]
    s = {frozenset((0, 1)): 0., frozenset((0, 2)): 1., frozenset((1, 2)): 0.1}
    expect = np.array([s[frozenset((a, b))], s[frozenset((a, c))], s[frozenset((b, c))]]) / 0.5
    np.testing.assert_allclose(t.similarities[0], expect, rtol=1e-6)
    np.testing.assert_allclose(t.similarities[0, 0], 2.0)


def test_pair01_most_similar_on_a_pool_with_teacher_temperature(pool):
    emb, cls = pool
    teacher = Teacher.identity(emb); teacher.temperature = 3.0
    x = teacher.transform(emb)
    t = generate_triplets(x, 400, 'random', teacher=teacher, progress=False)
    s = t.similarities
    assert (s[:, 0] >= s[:, 1]).all() and (s[:, 0] >= s[:, 2]).all() and len(t.misordered) == 0
    np.testing.assert_allclose(s, triplet_similarities(x, t.indices, 'dot', max_matrix_items=0, dtype='float64') / 3.0, rtol=1e-5, atol=1e-5)
    assert t.manifest['temperature'] == 3.0 and t.manifest['teacher_hash'] == teacher.content_hash()


def test_impossible_request_is_a_clear_error():
    g = np.repeat([0, 1, 2], 3)  # within_class: 3 * C(3,3) = 3 triplets possible
    assert n_possible('within_class', [3, 3, 3]) == 3
    assert len(sample_triplets(g, 3, 'within_class')[0]) == 3
    with pytest.raises(AlignNbError, match='only 3 distinct'):
        sample_triplets(g, 4, 'within_class')
    with pytest.raises(AlignNbError, match='needs labels'):
        generate_triplets(np.ones((9, 2)), 1, 'class_border', progress=False)
    with pytest.raises(AlignNbError, match='unknown scheme'):
        generate_triplets(np.ones((9, 2)), 1, 'nope', progress=False)


def test_n_possible_counts_by_hand():
    assert n_possible('random', [4, 1]) == 10  # C(5,3)
    assert n_possible('between_class', [2, 2, 3]) == 12  # 2*2*3
    assert n_possible('class_border', [2, 3]) == 1 * 3 + 3 * 2  # C(2,2)*3 + C(3,2)*2


def test_official_npz_round_trip_keys_and_dtypes(tmp_path, pool):
    emb, cls = pool
    ids = [f'n0000{c}_{i}.JPEG' for i, c in enumerate(cls)]
    t = generate_triplets(emb, 100, 'class_border', labels=cls, ids=ids, progress=False)
    p = t.save(tmp_path / 'uncertainty_distillation' / 'train_class_border.npz')
    with np.load(p) as z:
        assert set(z.files) == OFFICIAL
        assert z['filenames'].dtype.kind == 'U' and z['filenames'].shape == (100, 3)
        assert z['similarities'].dtype == np.float32 and z['indices'].dtype == np.int64
    assert json.loads((tmp_path / 'uncertainty_distillation' / 'train_class_border.npz.manifest.json').read_text())['scheme'] == 'class_border'
    back = AlignetTriplets.load(p)
    np.testing.assert_array_equal(back.filenames, t.filenames); np.testing.assert_array_equal(back.similarities, t.similarities)
    np.testing.assert_array_equal(back.indices, t.indices)
    assert back.manifest['n'] == 100
    np.testing.assert_array_equal(back.filenames, np.array(ids)[back.indices])


def test_plain_numpy_official_file_loads(tmp_path):
    np.savez(tmp_path / 'val_cluster_border.npz', filenames=np.array([['n1_1.JPEG', 'n1_2.JPEG', 'n2_1.JPEG'], ['a', 'b', 'c']]),
             similarities=np.array([[3., 1., 0.5], [1., 1., 0.]]), indices=np.array([[5, 6, 9], [0, 1, 2]], np.int32))
    t = AlignetTriplets.load(tmp_path / 'val_cluster_border.npz')
    assert len(t) == 2 and t.manifest == {}
    assert t.similarities.dtype == np.float32 and t.indices.dtype == np.int64
    np.testing.assert_allclose(t.soft_labels()[0], np.exp([3., 1., .5]) / np.exp([3., 1., .5]).sum(), rtol=1e-6)
    np.testing.assert_allclose(t.soft_labels().sum(1), 1, rtol=1e-6)


def test_load_rejects_bad_files_naming_row_and_key(tmp_path):
    f = np.array([['a', 'b', 'c']] * 3)
    np.savez(tmp_path / 'neg.npz', filenames=f, similarities=np.ones((3, 3)), indices=np.array([[0, 1, 2], [0, 1, 2], [0, -1, 2]]))
    with pytest.raises(AlignNbError, match=r'neg\.npz: row 2: indices must be non-negative'):
        AlignetTriplets.load(tmp_path / 'neg.npz')
    np.savez(tmp_path / 'nokey.npz', filenames=f, indices=np.zeros((3, 3), int))
    with pytest.raises(AlignNbError, match="'similarities'"):
        AlignetTriplets.load(tmp_path / 'nokey.npz')
    np.savez(tmp_path / 'shape.npz', filenames=f, similarities=np.ones((3, 2)), indices=np.zeros((3, 3), int))
    with pytest.raises(AlignNbError, match=r'similarities must have shape \(n, 3\)'):
        AlignetTriplets.load(tmp_path / 'shape.npz')
    with pytest.raises(FileNotFoundError):
        AlignetTriplets.load(tmp_path / 'missing.npz')


def test_misordered_rows_warn_with_count_or_raise_when_strict(tmp_path):
    np.savez(tmp_path / 'm.npz', filenames=np.array([['a', 'b', 'c']] * 3), indices=np.zeros((3, 3), int),
             similarities=np.array([[2., 1., 0.], [0., 1., 0.], [0., 0., 3.]]))
    with pytest.warns(UserWarning, match=r'2 of 3 rows.*first row 1'):
        t = AlignetTriplets.load(tmp_path / 'm.npz')
    assert t.misordered.tolist() == [1, 2]
    with pytest.raises(AlignNbError, match='first row 1'):
        AlignetTriplets.load(tmp_path / 'm.npz', strict=True)


def test_resolve_indices_against_an_image_set():
    ims = ArrayImages(np.zeros((4, 2, 2, 3), np.uint8), ids=['w.JPEG', 'x.JPEG', 'y.JPEG', 'z.JPEG'])
    t = AlignetTriplets([['y.JPEG', 'w.JPEG', 'z.JPEG'], ['x.JPEG', 'q.JPEG', 'w.JPEG']], np.zeros((2, 3)), np.zeros((2, 3), int))
    assert t.subset([0]).resolve_indices(ims.ids).tolist() == [[2, 0, 3]]
    with pytest.raises(AlignNbError, match=r"row 1, column 1: filename 'q.JPEG'"):
        t.resolve_indices(ims.ids)


def test_split_is_disjoint_and_complete(pool):
    emb, cls = pool
    t = generate_triplets(emb, 300, 'random', progress=False)
    tr, va = t.split(50, seed=1)
    assert (len(tr), len(va)) == (250, 50)
    assert unordered(tr.indices) | unordered(va.indices) == unordered(t.indices)
    assert not unordered(tr.indices) & unordered(va.indices)
    assert va.manifest['split'] == {'part': 'val', 'n_val': 50, 'seed': 1, 'of': 300}


def test_unalignet_is_the_same_call_with_identity_embeddings(pool):
    emb, cls = pool
    t0 = Teacher.identity(emb)
    un = generate_triplets(t0.transform(emb), 100, 'cluster_border', k=4, teacher=t0, progress=False)
    assert len(un) == 100 and un.manifest['teacher_hash'] == t0.content_hash()
    check_property('cluster_border', un.groups)


def test_shared_sampling_labels_the_same_triplets_by_each_teacher():
    "AligNet vs UnAligNet differ only in the teacher: one clustering (of the first teacher), one triplet set, each file ordered by its own teacher."
    import numpy as np
    from align_nb.triplets import variant_triplets, compare_variants
    rng = np.random.default_rng(3)
    cls = np.repeat(np.arange(8), 30)
    e_al = rng.normal(0, 2, (8, 10))[cls] + rng.normal(0, 1, (240, 10))
    e_un = rng.normal(0, 1, (240, 10)) + 0.3 * e_al  # a teacher that sees the classes only weakly
    sh = variant_triplets({'alignet': e_al, 'unalignet': e_un}, 800, 'cluster_border', k=8, progress=False)
    pt = variant_triplets({'alignet': e_al, 'unalignet': e_un}, 800, 'cluster_border', k=8, sampling='per_teacher', progress=False)
    assert np.array_equal(np.sort(sh['alignet'].indices, 1), np.sort(sh['unalignet'].indices, 1))
    for v, e in (('alignet', e_al), ('unalignet', e_un)):
        s = triplet_similarities(e, sh[v].indices, 'dot', max_matrix_items=0, dtype='float64')
        assert (s[:, 0] >= s[:, 1:].max(1)).all()  # image 2 = this file's own teacher's odd one out
        assert np.allclose(sh[v].similarities, s, atol=1e-3)
    # the UnAligNet rows reorder the AligNet rows where the teachers disagree, and only there
    moved = (sh['alignet'].indices[:, 2] != sh['unalignet'].indices[:, 2])
    agree = triplet_similarities(e_un, sh['alignet'].indices, 'dot', max_matrix_items=0, dtype='float64').argmax(1) == 0
    assert np.array_equal(moved, ~agree) and 0 < moved.mean() < 1
    c_sh = compare_variants(sh['alignet'], sh['unalignet'], e_al, e_un)
    c_pt = compare_variants(pt['alignet'], pt['unalignet'], e_al, e_un)
    assert c_sh['same_set_same_row'] == 1.0 and c_sh['shared_sets'] == 1.0
    assert c_pt['shared_sets'] < 0.2 and np.isclose(c_sh['odd_agreement_common'], agree.mean())
    assert sh['unalignet'].manifest['clustered_on'] == 'alignet' and pt['unalignet'].manifest['clustered_on'] == 'unalignet'

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
import pickle, zipfile
from math import comb
from align_nb.core import save_npz
from align_nb.features import FeatureStore
from align_nb.release import ReleaseTriplets, npz_member_memmap
from align_nb.triplets import write_npz_streaming, sample_triplets_chunked, ordered_similarities, _keys, _order_by_teacher
from helpers import clustered_pool as _pool

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


# --- big pools: chunked k-means, the streaming .npz writer, triplets streamed into the official file (`path=`) ---

def test_chunked_kmeans_recovers_well_separated_clusters(tmp_path):
    from sklearn.metrics import adjusted_rand_score
    rng = np.random.default_rng(1)
    cent = rng.normal(0, 8, (8, 16)); truth = rng.integers(0, 8, 4000)
    x = (cent[truth] + rng.normal(0, 1, (4000, 16))).astype(np.float32)
    labels, C = kmeans(x, 8, chunked=True, chunk=512, progress=False)
    assert labels.shape == (4000,) and labels.dtype == np.int64 and C.shape == (8, 16)
    assert adjusted_rand_score(truth, labels) == 1.0
    for j in range(8):  # each centre is the mean of its cluster (within noise / sqrt(n))
        np.testing.assert_allclose(C[j], x[labels == j].mean(0), atol=1e-3)
    # from a cluster-sorted store: labels still index pool items
    st = FeatureStore.write(tmp_path / 'x.npy', x, dtype='float32', progress=False).sorted_by(truth, tmp_path / 'xs.npy', progress=False)
    labels2, _ = kmeans(st, 8, chunked=True, chunk=700, progress=False)
    assert adjusted_rand_score(truth, labels2) == 1.0


def test_write_npz_streaming_round_trip_and_errors(tmp_path):
    a = np.arange(30).reshape(10, 3); f = np.array([f'img{i}.JPEG' for i in range(30)]).reshape(10, 3)
    p = write_npz_streaming(tmp_path / 'x.npz', {'filenames': (f.dtype, f.shape, [f[:4], f[4:]]), 'indices': (np.int64, a.shape, (a[i:i + 3] for i in range(0, 10, 3)))})
    with np.load(p) as z:
        np.testing.assert_array_equal(z['indices'], a); np.testing.assert_array_equal(z['filenames'], f)
        assert z['filenames'].dtype == np.dtype('<U10')
    with zipfile.ZipFile(p) as zf: assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
    with pytest.raises(AlignNbError, match="member 'indices' got 9 rows, 10 declared"):
        write_npz_streaming(tmp_path / 'y.npz', {'indices': (np.int64, a.shape, [a[:9]])})
    with pytest.raises(AlignNbError, match='rows of shape'):
        write_npz_streaming(tmp_path / 'y.npz', {'indices': (np.int64, a.shape, [a[:, :2]])})
    assert not (tmp_path / 'y.npz').exists()


def test_streamed_npz_loads_and_equals_in_memory_reference(tmp_path):
    f, g = _pool()
    st = FeatureStore.write(tmp_path / 'pool.npy', f, progress=False)
    ids = [f'n0000_{i:04d}.JPEG' for i in range(len(f))]
    p = generate_triplets(st, 2000, 'cluster_border', path=tmp_path / 'tr.npz', k=g, temperature=0.25, ids=ids, seed=3, chunk=300, progress=False)
    with np.load(p) as z:
        assert sorted(z.files) == ['filenames', 'indices', 'similarities']
        assert z['filenames'].dtype.kind == 'U' and z['similarities'].dtype == np.float32
    t = AlignetTriplets.load(p, strict=True)  # strict: pair (0, 1) most similar in every row
    assert len(t) == 2000 and t.manifest['scheme'] == 'cluster_border' and t.manifest['temperature'] == 0.25
    # in-memory reference: the same sampled triplets, ordered by triplets._order_by_teacher (float64) and divided by T
    raw = np.concatenate([c for c in sample_triplets_chunked(g, 2000, 'cluster_border', 3, 300) if not isinstance(c, dict)])
    ref_t, ref_s = _order_by_teacher(f, raw, 'dot')
    np.testing.assert_array_equal(t.indices, ref_t)
    np.testing.assert_allclose(t.similarities, ref_s / 0.25, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(t.filenames, np.array(ids)[t.indices])
    # invariants: no duplicate (unordered) triplets, sims / T, cluster_border: exactly two items share a cluster
    assert len(np.unique(np.sort(t.indices, 1), axis=0)) == 2000
    np.testing.assert_allclose(t.similarities, triplet_similarities(f, t.indices, 'dot', max_matrix_items=0, dtype='float64') / 0.25, rtol=1e-5, atol=1e-4)
    gg = g[t.indices]
    assert (((gg[:, 0] == gg[:, 1]).astype(int) + (gg[:, 0] == gg[:, 2]) + (gg[:, 1] == gg[:, 2])) == 1).all()


def test_chunked_sampler_has_no_duplicates_across_chunks_and_respects_limits():
    n = 12; g = np.zeros(n, int)
    out = [c for c in sample_triplets_chunked(g, 200, 'random', seed=0, chunk=50)]
    trip = np.concatenate(out[:-1]); counts = out[-1]
    assert [len(c) for c in out[:-1]] == [50, 50, 50, 50] and counts['n_possible'] == comb(12, 3) == 220
    assert len(np.unique(np.sort(trip, 1), axis=0)) == 200 and (np.sort(trip, 1)[:, :2] != np.sort(trip, 1)[:, 1:]).all()
    with pytest.raises(AlignNbError, match='can produce only 220'):
        next(sample_triplets_chunked(g, 221, 'random'))


def test_keys_are_exact_below_2_21_items_and_mixed_above():
    s = np.array([[0, 1, 2], [0, 2, 1], [5, 6, 7]])
    assert _keys(np.sort(s, 1), 10).tolist() == [12, 12, 567]
    big = 2 ** 22; rng = np.random.default_rng(0)
    t = np.sort(rng.integers(0, big, (200_000, 3)), 1)
    k = _keys(t, big)
    assert k.dtype == np.int64 and len(np.unique(k)) == len(np.unique(t, axis=0))  # no collisions on 200k distinct triplets
    assert _keys(t[:5], big).tolist() == k[:5].tolist()


def test_ordered_similarities_cosine_puts_most_similar_pair_first():
    e = np.array([[1, 0], [0, 1], [10, 0.5]], np.float32)  # dot: (0,2) most similar (10 vs 0.5, 0); cosine: (0,2) too
    t, s = ordered_similarities(e, [[1, 2, 0]], 'dot')
    assert set(t[0, :2].tolist()) == {0, 2} and t[0, 2] == 1 and s[0, 0] == pytest.approx(10)
    t, s = ordered_similarities(e, [[1, 2, 0]], 'cosine')
    assert s[0, 0] == pytest.approx(10 / np.hypot(10, 0.5)) and t[0, 2] == 1
    with pytest.raises(AlignNbError, match='metric must be'):
        ordered_similarities(e, [[0, 1, 2]], 'l2')


def test_lazy_reader_equals_np_load(tmp_path):
    f, g = _pool(n=120, k=6)
    p = generate_triplets(f, 400, 'cluster_border', path=tmp_path / 'tr.npz', k=g, chunk=150, progress=False)
    save_npz(tmp_path / 'plain.npz', indices=np.arange(12).reshape(4, 3), similarities=np.ones((4, 3), np.float32),
             filenames=np.array([['a', 'b', 'c']] * 4))  # written by np.savez
    for path in (p, tmp_path / 'plain.npz'):
        lt = ReleaseTriplets(path)
        with np.load(path) as z:
            for k in ('indices', 'similarities', 'filenames'):
                m = getattr(lt, k); assert isinstance(m, np.memmap) and not m.flags.writeable
                np.testing.assert_array_equal(np.asarray(m), z[k])
        lt2 = pickle.loads(pickle.dumps(lt))
        assert len(pickle.dumps(lt)) < 1000 and isinstance(lt2.indices, np.memmap)  # only the path travels to workers, which re-open the maps
        np.testing.assert_array_equal(lt2.row(len(lt) - 1)[0], lt.indices[-1])
    np.savez_compressed(tmp_path / 'c.npz', indices=np.zeros((2, 3), int))
    with pytest.raises(AlignNbError, match='compressed'):
        npz_member_memmap(tmp_path / 'c.npz', 'indices')
    save_npz(tmp_path / 'only.npz', indices=np.zeros((2, 3), int), filenames=np.array([['a', 'b', 'c']] * 2))
    with pytest.raises(AlignNbError, match="no member 'similarities'"):
        ReleaseTriplets(tmp_path / 'only.npz')
    save_npz(tmp_path / 'dup.npz', indices=np.array([[0, 1, 1]]), similarities=np.ones((1, 3), np.float32), filenames=np.array([['a', 'b', 'b']]))
    with pytest.raises(AlignNbError, match='row 0: a triplet needs three different'):
        ReleaseTriplets(tmp_path / 'dup.npz').row(0)


def test_ordered_similarities_threads_give_the_same_result(tmp_path):
    f, g = _pool(n=200, k=5, dim=8)
    st = FeatureStore.write(tmp_path / 'p.npy', f, progress=False)
    trip = np.concatenate([c for c in sample_triplets_chunked(g, 1000, 'cluster_border', 0, 400) if not isinstance(c, dict)])
    t1, s1 = ordered_similarities(st, trip, block=64)
    t2, s2 = ordered_similarities(st, trip, block=64, workers=3)
    np.testing.assert_array_equal(t1, t2); np.testing.assert_array_equal(s1, s2)
    assert (s1[:, 0] >= s1[:, 1:].max(1)).all() and not np.array_equal(t1, trip)  # reordered, pair (0, 1) max


# --- the faster kernels (bench helper) equal the previous computations on small inputs ---


def _reference_sampler(groups, n_triplets, scheme, seed, chunk):
    "The previous dedupe of `sample_triplets_chunked` (row sort + np.unique + unsorted searchsorted), kept as the reference."
    from align_nb.triplets import group_layout, _draw
    n, members, starts, sizes, possible = group_layout(groups, n_triplets, scheme)
    rng = np.random.default_rng(seed); seen = np.zeros(0, np.int64); done = 0; out = []
    while done < n_triplets:
        quota = min(chunk, n_triplets - done); got = []; have = 0
        while have < quota:
            need = quota - have
            c = _draw(scheme, int(need + need // 8 + 1024), members, starts, sizes, n, rng)
            c = c[(c[:, 0] != c[:, 1]) & (c[:, 0] != c[:, 2]) & (c[:, 1] != c[:, 2])]
            k = _keys(np.sort(c, 1), n)
            _, first = np.unique(k, return_index=True); first = np.sort(first)
            k, c = k[first], c[first]
            if len(seen):
                p = np.minimum(np.searchsorted(seen, k), len(seen) - 1); new = seen[p] != k
                k, c = k[new], c[new]
            k, c = k[:need], c[:need]
            got.append(c); have += len(c)
            ks = np.sort(k); seen = np.insert(seen, np.searchsorted(seen, ks), ks)
        out.append(np.concatenate(got)); done += len(out[-1])
    return out


@pytest.mark.parametrize('n,k,m,chunk,scheme', [(60, 4, 3000, 700, 'cluster_border'),  # many duplicates: several rounds per chunk
                                                 (400, 7, 5000, 1500, 'within_class'), (300, 1, 2000, 512, 'random'),
                                                 (2 ** 21 + 5, 50, 3000, 1000, 'cluster_border')])  # hashed keys above 2^21 items
def test_chunked_sampler_gives_the_same_triplets_as_the_previous_dedupe(n, k, m, chunk, scheme):
    g = np.random.default_rng(1).integers(0, k, n)
    new = [c for c in sample_triplets_chunked(g, m, scheme, seed=3, chunk=chunk) if not isinstance(c, dict)]
    ref = _reference_sampler(g, m, scheme, 3, chunk)
    assert len(new) == len(ref)
    for a, b in zip(new, ref): np.testing.assert_array_equal(a, b)


def test_unique_first_equals_np_unique_with_return_index():
    from align_nb.triplets import _unique_first
    rng = np.random.default_rng(0)
    for n, hi in [(0, 5), (1, 5), (1000, 7), (5000, 10 ** 12)]:
        k = rng.integers(0, hi, n); u, f = _unique_first(k); u2, f2 = np.unique(k, return_index=True)
        np.testing.assert_array_equal(u, u2); np.testing.assert_array_equal(f, f2)


@pytest.mark.parametrize('metric', ['dot', 'cosine'])
@pytest.mark.parametrize('sorted_store', [False, True])
def test_grouped_generation_writes_the_same_file_as_the_per_row_path(tmp_path, metric, sorted_store):
    f, g = _pool(500, 9, 16)
    st = FeatureStore.write(tmp_path / 'p.npy', f, progress=False)
    if sorted_store: st = st.sorted_by(g, tmp_path / 's.npy', progress=False)
    kw = dict(scheme='cluster_border', k=g, temperature=0.3, metric=metric, chunk=900, progress=False)
    generate_triplets(st, 4000, path=tmp_path / 'a.npz', grouped=True, workers=2, **kw)
    generate_triplets(st, 4000, path=tmp_path / 'b.npz', grouped=False, **kw)
    with np.load(tmp_path / 'a.npz') as a, np.load(tmp_path / 'b.npz') as b:
        for m in ('indices', 'similarities', 'filenames'): np.testing.assert_array_equal(a[m], b[m])  # bit for bit, same row order
    from align_nb.core import load_json
    assert load_json(str(tmp_path / 'a.npz') + '.manifest.json')['grouped'] is True


@pytest.mark.parametrize('metric', ['dot', 'cosine'])
def test_grouped_similarities_equal_per_row_for_any_triplets(tmp_path, metric):
    from align_nb.triplets import grouped_similarities, _order_pairs
    f, g = _pool(200, 5, 8)
    st = FeatureStore.write(tmp_path / 'p.npy', f, progress=False)
    t = np.random.default_rng(2).integers(0, 200, (3000, 3)); t = t[(t[:, 0] != t[:, 1]) & (t[:, 0] != t[:, 2]) & (t[:, 1] != t[:, 2])]
    t2, s2 = ordered_similarities(st, t, metric)
    for workers, sub in ((1, 256), (2, 7)):  # items 1 and 2 inside or outside item 0's group, several sub-blocks
        s = grouped_similarities(st, t, g, metric, workers=workers, sub=sub)
        t1, s1 = _order_pairs(t, s)
        np.testing.assert_array_equal(t1, t2); np.testing.assert_array_equal(s1, s2)
    s = grouped_similarities(f.astype(np.float16), t, g, metric)  # a plain array works too
    np.testing.assert_array_equal(_order_pairs(t, s)[1], s2)
    with pytest.raises(AlignNbError, match='groups must have shape'): grouped_similarities(st, t, g[:-1])


def test_cast_and_kmeans_threads_keep_results(tmp_path):
    from align_nb.features import cast_features
    x = np.random.default_rng(0).normal(0, 3, (70000, 3)).astype(np.float16)
    np.testing.assert_array_equal(cast_features(x), x.astype(np.float32))
    f, g = _pool(3000, 6, 10)
    l1, c1, i1 = kmeans(f, 6, chunked=True, chunk=700, return_info=True, progress=False)
    l2, c2, i2 = kmeans(f, 6, chunked=True, chunk=700, return_info=True, progress=False, threads=2)
    np.testing.assert_array_equal(l1, l2); np.testing.assert_array_equal(c1, c2); assert i1['inertia'] == i2['inertia']


def test_kmeans_without_final_assignment_pass():
    """`final_assign=False` (no final assignment pass): the same centres as the default, labels whose means are the centres,
    the inertia of those labels reported exactly, at least the default's (planted, overlapping clusters)."""
    from sklearn.metrics import adjusted_rand_score
    rng = np.random.default_rng(3)
    cent = rng.normal(0, 1.0, (20, 24)); truth = rng.integers(0, 20, 6000)
    x = (cent[truth] + rng.normal(0, 1, (6000, 24))).astype(np.float32)
    lab, C, info = kmeans(x, 20, chunked=True, chunk=1000, tol=0, return_info=True, progress=False, final_assign=False)
    labr, Cr, infor = kmeans(x, 20, chunked=True, chunk=1000, tol=0, return_info=True, progress=False)
    assert info['passes'] == 3 and infor['passes'] == 4 and info['inertia'][:3] == infor['inertia'][:3]
    np.testing.assert_array_equal(C, Cr)  # same computation up to the centres
    # reference labels: the nearest returned centre (brute force)
    np.testing.assert_array_equal(labr, ((x[:, None] - Cr[None]) ** 2).sum(2).argmin(1))
    # default labels: their means are the returned centres, and the reported inertia is theirs
    for j in range(20):
        np.testing.assert_allclose(C[j], x[lab == j].mean(0), atol=1e-4)
    true_inertia = float(((x.astype(np.float64) - C[lab]) ** 2).sum())
    assert abs(info['inertia'][-1] - true_inertia) <= 1e-5 * true_inertia
    ref = infor['inertia'][-1]
    assert ref <= info["inertia"][-1] and (info["inertia"][-1] - ref) / ref < 2e-2  # this set is far from converged after 3 passes: 1.1 % here
    assert 0.9 < adjusted_rand_score(labr, lab) < 1  # 0.94 here: the final assignment pass moves some rows


def _fixed_zip_time(monkeypatch):
    "Freeze the member timestamps zipfile writes (its only run-dependent bytes), so two files can be compared byte for byte."
    import time, types
    now = time.time()
    monkeypatch.setattr(zipfile, 'time', types.SimpleNamespace(time=lambda: now, localtime=time.localtime))


@pytest.mark.parametrize('grouped', [True, False])
def test_overlapped_parts_write_the_same_file_byte_for_byte(tmp_path, monkeypatch, grouped):
    from align_nb.core import load_json
    _fixed_zip_time(monkeypatch)
    f, g = _pool(500, 9, 16)
    st = FeatureStore.write(tmp_path / 'p.npy', f, progress=False)
    ids = np.array([f'n{i % 7:08d}_{i:05d}.JPEG' for i in range(500)])  # a unicode array: converted without the Python loop
    kw = dict(scheme='cluster_border', k=g, temperature=0.3, chunk=700, grouped=grouped, progress=False)
    plain = generate_triplets(st, 4000, path=tmp_path / 'plain.npz', overlap=False, parts=1, ids=list(ids), **kw)  # one step after another
    m0 = load_json(str(plain) + '.manifest.json')
    assert m0['overlap'] is False and m0['grouped'] is grouped and m0['parts'] == (1 if grouped else None)
    for parts, workers in ((2, 2), (5, 1), (None, 2)):
        p = generate_triplets(st, 4000, path=tmp_path / f'o{parts}.npz', overlap=True, parts=parts, ids=ids, workers=workers, **kw)
        assert p.read_bytes() == plain.read_bytes(), (parts, workers)  # the whole file, headers and CRCs included
        m = load_json(str(p) + '.manifest.json')
        assert m['overlap'] is True and m['parts'] == ({2: 2, 5: 5, None: 1}[parts] if grouped else None)
        for key in ('seconds', 'date', 'workers', 'parts', 'overlap'): m.pop(key); m0.pop(key, None)
        assert m == m0  # scheme, counts, groups_hash, features, ... identical
        assert set(load_json(str(p) + '.manifest.json')['seconds']) >= {'groups_and_sampling', 'similarities', 'write', 'total', 'overlapped', 'cpu'}


def test_overlapped_generation_raises_every_step_error_and_leaves_no_file(tmp_path, monkeypatch):
    import align_nb.triplets as S
    f, g = _pool(300, 5, 8)
    st = FeatureStore.write(tmp_path / 'p.npy', f, progress=False)
    out = tmp_path / 't.npz'
    def gone(): assert not out.exists() and not list(tmp_path.glob('.t.npz*')) and not (tmp_path / 't.npz.manifest.json').exists()
    small = FeatureStore.write(tmp_path / 'small.npy', f[:12], progress=False)
    with pytest.raises(AlignNbError, match='can produce only'):  # sampling thread, before any chunk: more than the scheme can make
        generate_triplets(small, 10**4, 'cluster_border', path=out, k=np.arange(12) % 3, progress=False)
    gone()
    orig = S.sample_triplets_chunked
    def failing(*a, **k):  # two chunks, then the sampler fails (after the first part was computed and partly written)
        for i, c in enumerate(orig(*a, **k)):
            if i == 2: raise AlignNbError('sampler failed on purpose')
            yield c
    monkeypatch.setattr(S, 'sample_triplets_chunked', failing)
    for grouped in (True, False):
        with pytest.raises(AlignNbError, match='sampler failed on purpose'):
            generate_triplets(st, 3000, 'cluster_border', path=out, k=g, chunk=500, parts=3, grouped=grouped, workers=2, progress=False)
        gone()
    monkeypatch.setattr(S, 'sample_triplets_chunked', orig)
    bad = f.copy(); bad[7] = np.inf  # similarity step (main thread): non-finite features
    sb = bad.astype(np.float16)  # a plain array (a FeatureStore refuses non-finite features)
    with pytest.raises(AlignNbError, match='finite'):
        generate_triplets(sb, 2000, 'cluster_border', path=out, k=g, chunk=300, parts=3, progress=False)
    gone()
    with pytest.raises(AlignNbError, match='parts must be an integer'):
        generate_triplets(st, 100, 'cluster_border', path=out, k=g, parts=0, progress=False)
    import shutil
    from align_nb import core
    real = shutil.disk_usage
    monkeypatch.setattr(core.shutil, 'disk_usage', lambda p: real(p)._replace(free=1000))  # writing thread: a full disk
    with pytest.raises(OSError, match='no space left on device'):
        generate_triplets(st, 3000, 'cluster_border', path=out, k=g, chunk=500, parts=3, workers=2, progress=False)
    gone()


def test_ids_array_equals_the_string_loop():
    from align_nb.triplets import _ids_array
    for ids in (np.array(['a', 'bcd', '']), np.array(['x  ', 'é', 'ab'], dtype='<U9'), np.array(['', '']), np.array(['q'], dtype='>U4')):
        ref = np.asarray([str(i) for i in ids]); got = _ids_array(ids, len(ids))
        assert got.dtype == ref.dtype and got.tolist() == ref.tolist(), (ids, got, ref)
    assert _ids_array(None, 3).tolist() == ['0', '1', '2'] and _ids_array([5, 'a'], 2).tolist() == ['5', 'a']

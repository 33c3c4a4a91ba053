"Tests of align_nb.scale: feature store, chunked k-means, streamed triplet .npz, lazy triplet reader (small sizes)."
import os
os.environ['HF_HUB_OFFLINE'] = '1'
import pickle, zipfile
from math import comb
import numpy as np
import pytest
from align_nb.core import AlignNbError, save_npz
from align_nb.release import write_npz_streaming
from align_nb.scale import (FeatureStore, kmeans_chunked, sample_triplets_chunked, ordered_similarities,
                            generate_triplets_streaming, _keys)
from align_nb.release import ReleaseTriplets, npz_member_memmap
from align_nb.triplets import AlignetTriplets, _order_by_teacher
from align_nb.evaluate import triplet_similarities
from helpers import scale_pool as _pool




def test_feature_store_round_trip_and_sorted_order(tmp_path):
    x = np.random.default_rng(0).normal(0, 1, (50, 5)).astype(np.float32)
    st = FeatureStore.write(tmp_path / 'f.npy', [x[:20], x[20:45], x[45:]], n=50, progress=False)
    assert st.dtype == np.float16 and len(st) == 50 and st.dim == 5 and not st.is_sorted
    np.testing.assert_array_equal(st.rows(np.arange(50)), x.astype(np.float16).astype(np.float32))
    labels = np.array([3, 1, 2, 0, 1] * 10)
    srt = st.sorted_by(labels, tmp_path / 's.npy', chunk=7, progress=False)
    assert (tmp_path / 's.order.npy').is_file()
    re = FeatureStore(tmp_path / 's.npy')  # re-opened from disk
    assert re.is_sorted and np.all(np.diff(labels[re.order]) >= 0)  # file rows grouped by label
    np.testing.assert_array_equal(re.order, np.argsort(labels, kind='stable'))
    np.testing.assert_array_equal(np.asarray(re.data), x.astype(np.float16)[re.order])  # row r holds pool item order[r]
    idx = np.array([[49, 0, 7], [3, 3, 18]])
    for s in (st, srt, re):
        np.testing.assert_array_equal(s.rows(idx), x.astype(np.float16).astype(np.float32)[idx])
        np.testing.assert_array_equal(s.rows(idx, sort=True), s.rows(idx))
    pool_order = np.concatenate([i for i, _ in re.chunks(8)]); np.testing.assert_array_equal(pool_order, np.arange(50))
    file_order = np.concatenate([i for i, _ in re.chunks(8, file_order=True)]); np.testing.assert_array_equal(file_order, re.order)


def test_feature_store_rejects_bad_input_and_leaves_no_file(tmp_path):
    x = np.ones((10, 3), np.float32)
    with pytest.raises(AlignNbError, match='held 6 rows, n=10'):
        FeatureStore.write(tmp_path / 'a.npy', [x[:6]], n=10, progress=False)
    bad = x.copy(); bad[4, 1] = 1e6  # overflows float16
    with pytest.raises(AlignNbError, match='first in row 4'):
        FeatureStore.write(tmp_path / 'a.npy', bad, progress=False)
    with pytest.raises(AlignNbError, match='permutation'):
        FeatureStore.write(tmp_path / 'a.npy', x, order=np.zeros(10, int), progress=False)
    assert not list(tmp_path.iterdir())
    st = FeatureStore.write(tmp_path / 'a.npy', x, progress=False)
    with pytest.raises(AlignNbError, match='index 10 at position 1 is out of range'):
        st.rows([0, 10])
    with pytest.raises(FileNotFoundError):
        FeatureStore(tmp_path / 'nope.npy')


def test_kmeans_chunked_recovers_well_separated_clusters(tmp_path):
    from sklearn.metrics import adjusted_rand_score
    rng = np.random.default_rng(1)
    cent = rng.normal(0, 8, (8, 16)); truth = rng.integers(0, 8, 4000)
    x = (cent[truth] + rng.normal(0, 1, (4000, 16))).astype(np.float32)
    labels, C = kmeans_chunked(x, 8, chunk=512, progress=False)
    assert labels.shape == (4000,) and labels.dtype == np.int64 and C.shape == (8, 16)
    assert adjusted_rand_score(truth, labels) == 1.0
    for j in range(8):  # each centre is the mean of its cluster (within noise / sqrt(n))
        np.testing.assert_allclose(C[j], x[labels == j].mean(0), atol=1e-3)
    # from a cluster-sorted store: labels still index pool items
    st = FeatureStore.write(tmp_path / 'x.npy', x, dtype='float32', progress=False).sorted_by(truth, tmp_path / 'xs.npy', progress=False)
    labels2, _ = kmeans_chunked(st, 8, chunk=700, progress=False)
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
    p = generate_triplets_streaming(st, tmp_path / 'tr.npz', 2000, 'cluster_border', k=g, temperature=0.25, ids=ids, seed=3, chunk=300, progress=False)
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
    p = generate_triplets_streaming(f, tmp_path / 'tr.npz', 400, 'cluster_border', k=g, chunk=150, progress=False)
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


# --- the faster kernels (bench helper, issue 14) equal the previous computations on small inputs ---

def _reference_sampler(groups, n_triplets, scheme, seed, chunk):
    "The previous dedupe of `sample_triplets_chunked` (row sort + np.unique + unsorted searchsorted), kept as the reference."
    from align_nb.triplets import group_layout, _draw
    from align_nb.scale import _keys
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
    from align_nb.scale import _unique_first
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
    generate_triplets_streaming(st, tmp_path / 'a.npz', 4000, grouped=True, workers=2, **kw)
    generate_triplets_streaming(st, tmp_path / 'b.npz', 4000, grouped=False, **kw)
    with np.load(tmp_path / 'a.npz') as a, np.load(tmp_path / 'b.npz') as b:
        for m in ('indices', 'similarities', 'filenames'): np.testing.assert_array_equal(a[m], b[m])  # bit for bit, same row order
    from align_nb.core import load_json
    assert load_json(str(tmp_path / 'a.npz') + '.manifest.json')['grouped'] is True


@pytest.mark.parametrize('metric', ['dot', 'cosine'])
def test_grouped_similarities_equal_per_row_for_any_triplets(tmp_path, metric):
    from align_nb.scale import grouped_similarities, _order_pairs
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
    from align_nb.scale import _cast
    x = np.random.default_rng(0).normal(0, 3, (70000, 3)).astype(np.float16)
    np.testing.assert_array_equal(_cast(x), x.astype(np.float32))
    f, g = _pool(3000, 6, 10)
    l1, c1, i1 = kmeans_chunked(f, 6, chunk=700, return_info=True, progress=False)
    l2, c2, i2 = kmeans_chunked(f, 6, chunk=700, return_info=True, progress=False, threads=2)
    np.testing.assert_array_equal(l1, l2); np.testing.assert_array_equal(c1, c2); assert i1['inertia'] == i2['inertia']


def test_kmeans_without_final_assignment_pass():
    """`final_assign=False` (no final assignment pass): the same centres as the default, labels whose means are the centres,
    the inertia of those labels reported exactly, at least the default's (planted, overlapping clusters)."""
    from sklearn.metrics import adjusted_rand_score
    rng = np.random.default_rng(3)
    cent = rng.normal(0, 1.0, (20, 24)); truth = rng.integers(0, 20, 6000)
    x = (cent[truth] + rng.normal(0, 1, (6000, 24))).astype(np.float32)
    lab, C, info = kmeans_chunked(x, 20, chunk=1000, tol=0, return_info=True, progress=False, final_assign=False)
    labr, Cr, infor = kmeans_chunked(x, 20, chunk=1000, tol=0, return_info=True, progress=False)
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
    plain = generate_triplets_streaming(st, tmp_path / 'plain.npz', 4000, overlap=False, parts=1, ids=list(ids), **kw)  # one step after another
    m0 = load_json(str(plain) + '.manifest.json')
    assert m0['overlap'] is False and m0['grouped'] is grouped and m0['parts'] == (1 if grouped else None)
    for parts, workers in ((2, 2), (5, 1), (None, 2)):
        p = generate_triplets_streaming(st, tmp_path / f'o{parts}.npz', 4000, overlap=True, parts=parts, ids=ids, workers=workers, **kw)
        assert p.read_bytes() == plain.read_bytes(), (parts, workers)  # the whole file, headers and CRCs included
        m = load_json(str(p) + '.manifest.json')
        assert m['overlap'] is True and m['parts'] == ({2: 2, 5: 5, None: 1}[parts] if grouped else None)
        for key in ('seconds', 'date', 'workers', 'parts', 'overlap'): m.pop(key); m0.pop(key, None)
        assert m == m0  # scheme, counts, groups_hash, features, ... identical
        assert set(load_json(str(p) + '.manifest.json')['seconds']) >= {'groups_and_sampling', 'similarities', 'write', 'total', 'overlapped', 'cpu'}


def test_overlapped_generation_raises_every_step_error_and_leaves_no_file(tmp_path, monkeypatch):
    import align_nb.scale as S
    f, g = _pool(300, 5, 8)
    st = FeatureStore.write(tmp_path / 'p.npy', f, progress=False)
    out = tmp_path / 't.npz'
    def gone(): assert not out.exists() and not list(tmp_path.glob('.t.npz*')) and not (tmp_path / 't.npz.manifest.json').exists()
    small = FeatureStore.write(tmp_path / 'small.npy', f[:12], progress=False)
    with pytest.raises(AlignNbError, match='can produce only'):  # sampling thread, before any chunk: more than the scheme can make
        generate_triplets_streaming(small, out, 10**4, 'cluster_border', k=np.arange(12) % 3, progress=False)
    gone()
    orig = S.sample_triplets_chunked
    def failing(*a, **k):  # two chunks, then the sampler fails (after the first part was computed and partly written)
        for i, c in enumerate(orig(*a, **k)):
            if i == 2: raise AlignNbError('sampler failed on purpose')
            yield c
    monkeypatch.setattr(S, 'sample_triplets_chunked', failing)
    for grouped in (True, False):
        with pytest.raises(AlignNbError, match='sampler failed on purpose'):
            generate_triplets_streaming(st, out, 3000, 'cluster_border', k=g, chunk=500, parts=3, grouped=grouped, workers=2, progress=False)
        gone()
    monkeypatch.setattr(S, 'sample_triplets_chunked', orig)
    bad = f.copy(); bad[7] = np.inf  # similarity step (main thread): non-finite features
    sb = bad.astype(np.float16)  # a plain array (a FeatureStore refuses non-finite features)
    with pytest.raises(AlignNbError, match='finite'):
        generate_triplets_streaming(sb, out, 2000, 'cluster_border', k=g, chunk=300, parts=3, progress=False)
    gone()
    with pytest.raises(AlignNbError, match='parts must be an integer'):
        generate_triplets_streaming(st, out, 100, 'cluster_border', k=g, parts=0, progress=False)
    import shutil
    from align_nb import core
    real = shutil.disk_usage
    monkeypatch.setattr(core.shutil, 'disk_usage', lambda p: real(p)._replace(free=1000))  # writing thread: a full disk
    with pytest.raises(OSError, match='no space left on device'):
        generate_triplets_streaming(st, out, 3000, 'cluster_border', k=g, chunk=500, parts=3, workers=2, progress=False)
    gone()


def test_ids_array_equals_the_string_loop():
    from align_nb.scale import _ids_array
    for ids in (np.array(['a', 'bcd', '']), np.array(['x  ', 'é', 'ab'], dtype='<U9'), np.array(['', '']), np.array(['q'], dtype='>U4')):
        ref = np.asarray([str(i) for i in ids]); got = _ids_array(ids, len(ids))
        assert got.dtype == ref.dtype and got.tolist() == ref.tolist(), (ids, got, ref)
    assert _ids_array(None, 3).tolist() == ['0', '1', '2'] and _ids_array([5, 'a'], 2).tolist() == ['5', 'a']

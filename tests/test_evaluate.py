"""Unit tests for align_nb.evaluate with hand-computed expectations."""
import os
os.environ['HF_HUB_OFFLINE'] = '1'
os.environ.setdefault('OMP_NUM_THREADS', '1')
import json, math
import numpy as np
import pytest
from scipy.stats import rankdata, spearmanr

from align_nb.core import AlignNbError, shared_data_dir
from align_nb.data import Trials, RepeatedTriplets
from align_nb import evaluate as ev

# Four items in 2-D: a = (1,0), b = (1,1), c = (0,1), d = (-1,0).
X4 = np.array([[1., 0.], [1., 1.], [0., 1.], [-1., 0.]])
R = 1 / math.sqrt(2)


def test_cosine_similarities_by_hand():
    S = ev.similarity_matrix(X4)
    expect = np.array([[1, R, 0, -1], [R, 1, R, -R], [0, R, 1, 0], [-1, -R, 0, 1]])
    np.testing.assert_allclose(S, expect, atol=1e-6)
    np.testing.assert_allclose(ev.similarity_matrix(X4, 'dot'), X4 @ X4.T)


def test_triplet_similarities_order_and_paths_agree():
    items = np.array([[0, 1, 3], [3, 2, 1]])
    # [s01, s02, s12]: (a,b)=R, (a,d)=-1, (b,d)=-R ; (d,c)=0, (d,b)=-R, (c,b)=R
    expect = np.array([[R, -1, -R], [0, -R, R]])
    np.testing.assert_allclose(ev.triplet_similarities(X4, items), expect, atol=1e-6)
    np.testing.assert_allclose(ev.triplet_similarities(X4, items, max_matrix_items=0, chunk_size=1), expect, atol=1e-6)
    np.testing.assert_allclose(ev.triplet_similarities(ev.similarity_matrix(X4), items, 'precomputed'), expect, atol=1e-6)


def test_matrix_and_rowwise_paths_agree_on_random_data():
    rng = np.random.default_rng(3)
    F = rng.normal(size=(50, 7))
    items = np.array([rng.choice(50, 3, replace=False) for _ in range(1000)])
    for metric in ('cosine', 'dot'):
        a = ev.triplet_similarities(F, items, metric)
        b = ev.triplet_similarities(F, items, metric, chunk_size=97, max_matrix_items=0)
        np.testing.assert_allclose(a, b, atol=1e-5)
        x = F / np.linalg.norm(F, axis=1, keepdims=True) if metric == 'cosine' else F
        np.testing.assert_allclose(a[:, 1], (x[items[:, 0]] * x[items[:, 2]]).sum(1), atol=1e-5)


def test_odd_one_out_and_probabilities_by_hand():
    sims = ev.triplet_similarities(X4, np.array([[0, 1, 3]]))
    assert ev.predict_odd(sims).tolist() == [2]  # (a, b) most similar -> d (position 2) is odd
    e = np.exp([-R, -1, R])  # P(odd=0) ∝ exp(s12), P(odd=1) ∝ exp(s02), P(odd=2) ∝ exp(s01)
    np.testing.assert_allclose(ev.odd_one_out_probs(sims)[0], e / e.sum(), atol=1e-6)
    e2 = np.exp(np.array([-R, -1, R]) / 0.5)
    np.testing.assert_allclose(ev.odd_one_out_probs(sims, T=0.5)[0], e2 / e2.sum(), atol=1e-6)


def test_ties_count_as_wrong():
    # triplet (a, b, c): s01 = s12 = R, a tie; every answer is scored wrong
    items = np.array([[0, 1, 2]] * 3)
    tr = Trials(items, np.array([0, 1, 2]))
    assert ev.predict_odd(ev.triplet_similarities(X4, items)).tolist() == [-1, -1, -1]
    assert not ev.odd_one_out_accuracy(X4, tr).any()
    rep = RepeatedTriplets(items[:1], np.array([[2, 1, 1]]))
    assert ev.odd_one_out_accuracy(X4, rep).tolist() == [0.0]


def test_repeated_accuracy_is_share_of_answers_matched():
    rep = RepeatedTriplets(np.array([[0, 1, 3]]), np.array([[1, 1, 2]]))  # model says position 2
    assert ev.odd_one_out_accuracy(X4, rep).tolist() == [0.5]


def test_noise_ceiling_hand_made_counts():
    rep = RepeatedTriplets(np.array([[0, 1, 2], [0, 1, 3], [1, 2, 3], [0, 2, 3]]),
                           np.array([[3, 1, 0], [1, 3, 1], [0, 0, 4], [2, 2, 0]]), kind=np.array(['g', 'g', 'l', 'l']))
    assert ev.noise_ceiling(rep) == pytest.approx((0.75 + 0.6 + 1.0 + 0.5) / 4)
    nc = ev.noise_ceiling(rep, per_kind=True)
    assert nc['per_kind'] == pytest.approx({'g': (0.75 + 0.6) / 2, 'l': 0.75})
    single = RepeatedTriplets(np.array([[0, 1, 2]]), np.array([[1, 0, 0]]))
    with pytest.raises(AlignNbError, match='answered at least 2'):
        ev.noise_ceiling(single)


def test_temperature_fit_recovers_known_T():
    rng = np.random.default_rng(0)
    sims = rng.normal(size=(6000, 3))
    for T in (0.3, 2.0):
        ans = (rng.random(6000)[:, None] > np.cumsum(ev.odd_one_out_probs(sims, T), 1)).sum(1)
        assert ev.fit_temperature(sims, ans) == pytest.approx(T, rel=0.1)
    # soft targets equal to the model at T=0.7 -> exact recovery
    assert ev.fit_temperature(sims, ev.odd_one_out_probs(sims, 0.7)) == pytest.approx(0.7, rel=1e-3)


def test_kl_zero_for_identical_and_log3_for_uniform_vs_onehot():
    p = np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
    assert ev.kl_to_human(p, p) == pytest.approx(0.0, abs=1e-12)
    assert ev.kl_to_human(np.full((1, 3), 1 / 3), np.array([[0., 1., 0.]])) == pytest.approx(math.log(3))
    assert ev.entropy([0.5, 0.5, 0.0]) == pytest.approx(math.log(2))


def test_uncertainty_alignment_perfect_rank_agreement():
    rep = RepeatedTriplets(np.array([[0, 1, 2], [0, 1, 3], [1, 2, 3], [0, 2, 3]]),
                           np.array([[6, 0, 0], [5, 1, 0], [3, 2, 1], [2, 2, 2]]), rt=np.array([0.5, 0.7, 0.9, 1.2]))
    mp = np.array([[0.98, 0.01, 0.01], [0.8, 0.1, 0.1], [0.6, 0.2, 0.2], [0.34, 0.33, 0.33]])
    ua = ev.uncertainty_alignment(mp, rep)
    assert ua['entropy_spearman'] == pytest.approx(1.0) and ua['rt_spearman'] == pytest.approx(1.0)
    assert ev.uncertainty_alignment(mp[::-1], rep)['entropy_spearman'] == pytest.approx(-1.0)


def test_bootstrap_ci_contains_mean_and_narrows_with_n():
    rng = np.random.default_rng(0)
    small, big = rng.random(100), rng.random(10000)
    a, b = ev.bootstrap_ci(small, n_boot=500), ev.bootstrap_ci(big, n_boot=500)
    assert a['lo'] <= small.mean() <= a['hi'] and b['lo'] <= big.mean() <= b['hi']
    assert (b['hi'] - b['lo']) < 0.3 * (a['hi'] - a['lo'])  # ~1/sqrt(100) narrower
    # chunked resampling (tiny max_elems) gives the same numbers as one block
    assert ev.bootstrap_ci(small, n_boot=50, max_elems=100) == ev.bootstrap_ci(small, n_boot=50)
    c = ev.bootstrap_ci(lambda i: np.median(small[i]), n_boot=200, n=len(small))
    assert c['value'] == pytest.approx(np.median(small)) and c['lo'] <= c['value'] <= c['hi']


def _direct_ceiling(H):
    iu = np.triu_indices(H.shape[1], 1)
    ranks = np.stack([rankdata(h[iu]) for h in H])
    lo = np.mean([spearmanr(np.delete(ranks, s, 0).mean(0), ranks[s])[0] for s in range(len(H))])
    hi = np.mean([spearmanr(ranks.mean(0), ranks[s])[0] for s in range(len(H))])
    return lo, hi, ranks.mean(0), iu


def test_rsa_ceiling_and_rho_equal_direct_scipy():
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(15, 6))
    H = np.stack([ev.model_rdm(Z + rng.normal(size=Z.shape)) for _ in range(5)])
    F = Z + 0.5 * rng.normal(size=Z.shape)
    rr = ev.rsa_report(F, H, n_boot=50)
    lo, hi, pooled, iu = _direct_ceiling(H)
    assert rr['noise_ceiling_lower'] == pytest.approx(lo, abs=1e-9)
    assert rr['noise_ceiling_upper'] == pytest.approx(hi, abs=1e-9)
    m = ev.model_rdm(F)[iu]
    assert rr['rho'] == pytest.approx(spearmanr(m, pooled)[0], abs=1e-9)
    assert rr['rho_subject_mean'] == pytest.approx(np.mean([spearmanr(m, h[iu])[0] for h in H]), abs=1e-9)
    assert rr['rho_ci'][0] <= rr['rho'] <= rr['rho_ci'][1] and rr['ci_over'] == 'stimuli'
    json.dumps(rr)


def test_model_rdm_by_hand_and_against_rsatoolbox_correlation():
    D = ev.model_rdm(X4)
    assert D[0, 1] == pytest.approx(1 - R) and D[0, 3] == pytest.approx(2.0) and D[0, 2] == pytest.approx(1.0)
    from rsatoolbox.data import Dataset
    from rsatoolbox.rdm import calc_rdm
    Z = np.random.default_rng(0).normal(size=(7, 5))
    ref = calc_rdm(Dataset(Z), method='correlation').get_matrices()[0]
    np.testing.assert_allclose(ev.model_rdm(Z, 'correlation'), ref, atol=1e-6)


def test_few_shot_separable_clusters_near_one_random_labels_near_chance():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16)) * 6
    y = np.repeat(np.arange(4), 60)
    x = centres[y] + rng.normal(size=(240, 16))
    res = ev.few_shot_probe(x[::2], y[::2], x[1::2], y[1::2], shots=(1, 5), n_repeats=3)
    assert res[1]['accuracy'] > 0.95 and res[5]['accuracy'] > 0.98
    yr = rng.integers(0, 4, 240)
    xr = rng.normal(size=(240, 16))
    rnd = ev.few_shot_probe(xr[::2], yr[::2], xr[1::2], yr[1::2], shots=(10,), n_repeats=5)
    assert abs(rnd[10]['accuracy'] - 0.25) < 0.1
    assert rnd[10]['ci'][0] <= rnd[10]['accuracy'] <= rnd[10]['ci'][1]


def test_shift_probe_unseen_subclasses_lower_than_source():
    rng = np.random.default_rng(0)
    sub = np.repeat(np.arange(8), 40); sup = sub // 2  # 4 superclasses x 2 subclasses
    x = 2 * rng.normal(size=(4, 12))[sup] + 2 * rng.normal(size=(8, 12))[sub] + rng.normal(size=(320, 12))
    s, t = sub % 2 == 0, sub % 2 == 1
    r = ev.shift_probe(x[s], sup[s], x[t], sup[t], source_sub=sub[s], target_sub=sub[t])
    assert r['source_accuracy'] > 0.9 and r['target_accuracy'] < r['source_accuracy']
    with pytest.raises(AlignNbError, match='does not occur in the source'):
        ev.shift_probe(x[s], sup[s], x[t], sup[t] + 10)


def test_taxonomy_distances_ordering_on_hierarchical_embedding():
    rng = np.random.default_rng(0)
    sup, bas, sub = np.repeat(np.arange(3), 12), np.repeat(np.arange(6), 6), np.repeat(np.arange(12), 3)
    e = 4 * rng.normal(size=(3, 20))[sup] + 2 * rng.normal(size=(6, 20))[bas] + rng.normal(size=(12, 20))[sub] + 0.2 * rng.normal(size=(36, 20))
    td = ev.taxonomy_distances(e, {'super': sup, 'basic': bas, 'sub': sub}, chunk=5)
    assert td.level.tolist() == ['same_sub', 'same_basic', 'same_super', 'unrelated']
    assert np.all(np.diff(td.mean_distance.values) > 0)
    # counts by hand: 12 subs x C(3,2)=3; 6 basics x 3*3 (2 subs of 3); 3 supers x 6*6; 36*35/2 total
    assert td.n_pairs.tolist() == [36, 54, 108, 630 - 36 - 54 - 108]
    D = 1 - ev.similarity_matrix(e).astype(np.float64)
    same_sub = (sub[:, None] == sub[None]) & np.triu(np.ones((36, 36), bool), 1)
    assert td.mean_distance[0] == pytest.approx(D[same_sub].mean(), abs=1e-5)


def test_report_is_jsonable_with_ceiling_relative_accuracy():
    rng = np.random.default_rng(0)
    F = rng.normal(size=(20, 6))
    base = np.array([rng.choice(20, 3, replace=False) for _ in range(40)])
    base = np.unique(np.sort(base, 1), axis=0)
    items = np.repeat(base, 4, axis=0)
    p = ev.odd_one_out_probs(ev.triplet_similarities(F, items), 0.2)
    odd = (rng.random(len(items))[:, None] > np.cumsum(p, 1)).sum(1)
    tr = Trials(items, odd, rt=rng.random(len(items)), kind=np.where(np.arange(len(items)) % 2, 'a', 'b'))
    val = Trials(items[:40], odd[:40])
    r = ev.odd_one_out_report(F, tr, val_trials=val, n_boot=100)
    json.loads(json.dumps(r))
    correct = ev.odd_one_out_accuracy(F, tr)
    assert r['accuracy'] == pytest.approx(correct.mean()) and r['chance'] == pytest.approx(1 / 3)
    assert r['noise_ceiling'] == pytest.approx(ev.noise_ceiling(tr.aggregate()))
    assert r['relative_to_ceiling'] == pytest.approx((r['accuracy'] - 1 / 3) / (r['noise_ceiling'] - 1 / 3))
    assert r['temperature_fit_on'] == 'val_trials' and r['n_repeated'] == len(base)
    assert set(r['per_kind']) == {'a', 'b'}
    r2 = ev.odd_one_out_report(F, tr, n_boot=10, ceiling=0.8)
    assert r2['relative_to_ceiling'] == pytest.approx((r2['accuracy'] - 1 / 3) / (0.8 - 1 / 3))


def test_bad_inputs_raise_errors_naming_the_row():
    with pytest.raises(AlignNbError, match='row 2'):
        ev.triplet_similarities(X4, np.array([[0, 1, 2], [0, 1, 3], [0, 1, 9]]))
    with pytest.raises(AlignNbError, match='row 1'):
        ev.triplet_similarities(X4, np.array([[0, 1, 2], [-1, 1, 3]]), max_matrix_items=0)
    with pytest.raises(AlignNbError, match=r'\(n, 3\)'):
        ev.triplet_similarities(X4, np.array([[0, 1], [1, 2]]))
    bad = X4.copy(); bad[3, 1] = np.nan
    with pytest.raises(AlignNbError, match='row 3'):
        ev.triplet_similarities(bad, np.array([[0, 1, 2]]))
    with pytest.raises(AlignNbError, match='row 1'):
        ev.predict_odd(np.array([[0., 1, 2], [np.inf, 0, 0]]))
    with pytest.raises(AlignNbError, match='row 1'):
        ev.similarity_matrix(np.array([[1., 2.], [0., 0.]]))
    with pytest.raises(AlignNbError, match='row 1'):
        ev.kl_to_human(np.full((2, 3), 1 / 3), np.array([[1., 0, 0], [0.5, 0.6, 0.0]]))
    with pytest.raises(AlignNbError, match='subject 1'):
        H = np.zeros((2, 4, 4)); H[1, 0, 1] = np.nan
        ev.rsa_report(X4, H)
    with pytest.raises(AlignNbError, match='labels'):
        ev.few_shot_probe(X4, np.array([0, 1, 0]), X4, np.array([0, 1, 0, 1]))


def test_real_data_facts_when_present():
    d = shared_data_dir()
    if d is None or not (d / 'things' / 'test_triplets.csv').is_file() or not (d / 'mur92' / '92_behavRDMs.mat').is_file():
        pytest.skip('shared real data not present')
    raw = np.loadtxt(d / 'things' / 'test_triplets.csv', dtype=np.int64)
    tt = Trials(raw[:, :3] - 1, raw[:, 3] - 1, source='things/test_triplets.csv')
    spose = np.loadtxt(d / 'things' / 'spose_embedding_66d_sorted.txt')
    assert 0.62 < ev.odd_one_out_accuracy(spose, tt, 'dot').mean() < 0.65
    assert ev.noise_ceiling(tt.aggregate()) == pytest.approx(0.672, abs=0.005)
    import scipy.io as sio
    m = sio.loadmat(d / 'mur92' / '92_behavRDMs.mat', squeeze_me=True, struct_as_record=False)
    H = np.stack([s.RDM for s in m['rdms_behav_92']])
    rr = ev.rsa_report(np.random.default_rng(0).normal(size=(92, 8)), H, n_boot=5)
    assert rr['noise_ceiling_lower'] == pytest.approx(0.48, abs=0.01)
    assert rr['noise_ceiling_upper'] == pytest.approx(0.58, abs=0.01)

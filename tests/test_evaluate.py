"""Unit tests for align_nb.evaluate with hand-computed expectations."""
import os
os.environ['HF_HUB_OFFLINE'] = '1'
os.environ.setdefault('OMP_NUM_THREADS', '1')
import json, math
import numpy as np
import pytest
from scipy.stats import rankdata, spearmanr

from align_nb.core import AlignNbError, shared_data_dir
from align_nb.data import Trials, RepeatedTriplets, AnchoredTriplets
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
    assert rr['rho_pooled'] == pytest.approx(spearmanr(m, pooled)[0], abs=1e-9)
    assert rr['rho_subject_mean'] == pytest.approx(np.mean([spearmanr(m, h[iu])[0] for h in H]), abs=1e-9)
    assert rr['rho_pooled_ci'][0] <= rr['rho_pooled'] <= rr['rho_pooled_ci'][1] and rr['ci_over'] == 'stimuli'
    assert rr['rho_subject_mean_ci'][0] <= rr['rho_subject_mean'] <= rr['rho_subject_mean_ci'][1]
    json.dumps(rr.to_dict())


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
    json.loads(json.dumps(r.to_dict()))
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


# ---------------------------------------------------------------- comparable RSA, honest intervals, nothing in sample

def _simulated_participants(n_stim=40, n_subj=12, noise=0.6, seed=0):
    "A true RDM (cosine RDM of latent features) plus independent symmetric noise per participant."
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n_stim, 6))
    D = ev.model_rdm(Z)
    H = []
    for _ in range(n_subj):
        E = rng.normal(size=D.shape) * noise * D[np.triu_indices(n_stim, 1)].std()
        E = np.triu(E, 1); E = E + E.T
        H.append(D + E)
    return Z, D, np.stack(H)


def test_rsa_true_rdm_scores_at_its_ceiling_unrelated_near_zero_and_equals_rsatoolbox():
    from rsatoolbox.rdm import RDMs, compare
    Z, D, H = _simulated_participants()
    rr = ev.rsa_report(Z, H, n_boot=200, seed=0)
    lo, hi = rr['noise_ceiling_lower'], rr['noise_ceiling_upper']
    # the true RDM's headline (participant-mean) score lies inside, or just below, the ceiling
    assert lo - 0.02 <= rr['rho_subject_mean'] <= hi, (rr['rho_subject_mean'], lo, hi)
    # the pooled score is on another scale: above the upper bound here
    assert rr['rho_pooled'] > hi
    # independent computation with rsatoolbox: mean over participants of compare(model, participant)
    ref = compare(RDMs(D[None]), RDMs(H), 'spearman')[0]
    assert rr['rho_subject_mean'] == pytest.approx(float(ref.mean()), abs=1e-9)
    assert rr['rho_per_subject'] == pytest.approx(list(ref), abs=1e-9)
    assert rr['rho_subject_mean_ci'][0] <= rr['rho_subject_mean'] <= rr['rho_subject_mean_ci'][1]
    unrelated = ev.rsa_report(np.random.default_rng(99).normal(size=Z.shape), H, n_boot=100)
    assert abs(unrelated['rho_subject_mean']) < 0.1 and unrelated['rho_subject_mean_ci'][0] < 0 < unrelated['rho_subject_mean_ci'][1]
    json.dumps(rr.to_dict())


def test_compare_rdms_stacks_values_and_interval_match_rsatoolbox_pattern_bootstrap():
    from rsatoolbox.rdm import RDMs, compare
    from rsatoolbox.model import ModelFixed
    from rsatoolbox.inference import eval_bootstrap_pattern
    Z, D, H = _simulated_participants(n_stim=30, n_subj=6, noise=1.0, seed=1)
    c = ev.compare_rdms(D, H, n_boot=400, seed=0)
    assert c['ci_over'] == 'stimuli' and c['n_b'] == 6 and len(c['per_participant']) == 6
    assert c['value'] == pytest.approx(float(compare(RDMs(D[None]), RDMs(H), 'spearman').mean()), abs=1e-9)
    assert c['per_participant'] == pytest.approx(list(compare(RDMs(D[None]), RDMs(H), 'spearman')[0]), abs=1e-9)
    # the same score as rsa_report's headline, with the same interval
    r = ev.rsa_report(Z, H, n_boot=400, seed=0)
    assert c['value'] == pytest.approx(r['rho_subject_mean']) and c['ci'] == pytest.approx(r['rho_subject_mean_ci'])
    # rsatoolbox's own pattern bootstrap of the participant-mean evaluation has the same spread
    np.random.seed(0)
    res = eval_bootstrap_pattern(ModelFixed('true', RDMs(D[None])), RDMs(H), method='spearman', N=400, boot_noise_ceil=False)
    ev_rsa = np.asarray(res.evaluations).reshape(400, -1)[:, 0]; ev_rsa = ev_rsa[np.isfinite(ev_rsa)]
    sd_ours = (c['ci'][1] - c['ci'][0]) / (2 * 1.96)
    assert 0.75 < sd_ours / ev_rsa.std() < 1.33, (sd_ours, ev_rsa.std())
    # a stack against a stack: the mean over all pairs; an RDM against itself: 1
    c2 = ev.compare_rdms(H[:2], H[2:5], n_boot=0)
    assert c2['value'] == pytest.approx(float(compare(RDMs(H[:2]), RDMs(H[2:5]), 'spearman').mean())) and np.isnan(c2['ci'][0])
    assert ev.compare_rdms(D, D, n_boot=20)['value'] == pytest.approx(1.0)
    with pytest.raises(AlignNbError, match='stimuli'):
        ev.compare_rdms(D, H[:, :10, :10])


@pytest.mark.parametrize('method', ['spearman', 'corr', 'cosine'])
def test_rsa_bootstrap_shortcut_equals_rsatoolbox_per_draw_and_scipy_on_the_resampled_vectors(method):
    from rsatoolbox.rdm import RDMs
    from scipy.stats import pearsonr
    Z, D, H = _simulated_participants(n_stim=20, n_subj=4, noise=0.8, seed=3)
    Ht = np.round(H * 4) / 4  # coarse ratings: many tied values, as in human arrangement or rating data
    A, B = RDMs(np.stack([D, Ht[0]])), RDMs(np.concatenate([H, Ht[1:]]))
    # draw by draw, the same numbers as rsatoolbox's own resampling (subsample_pattern + compare)
    v_fast, b_fast = ev._boot_compare(A, B, method, 60, seed=5)
    v_slow, b_slow = ev._boot_compare(A, B, method, 60, seed=5, fast=False)
    assert b_fast.shape == b_slow.shape == (60, 2, 7)
    np.testing.assert_allclose(v_fast, v_slow, atol=1e-12)
    np.testing.assert_allclose(b_fast, b_slow, atol=1e-12)
    # independently: build one resample's vectors by hand (pairs of copies of one stimulus dropped) and score with scipy
    constant = 1 - np.eye(20)  # a constant RDM first in the stack: its (centred) length is 0, so it scores 0
    stack = np.concatenate([constant[None], Ht[:2], H[:1]])
    pb = ev._PairBootstrap(RDMs(D[None]).get_vectors(), RDMs(stack).get_vectors(), 20, method)
    rng = np.random.default_rng(11)
    for _ in range(5):
        idx = np.sort(rng.integers(0, 20, 20))
        p, q = np.triu_indices(20, 1)
        keep = idx[p] != idx[q]
        vec = lambda M: M[idx[p[keep]], idx[q[keep]]]
        def score(x, y):
            if method == 'spearman': return spearmanr(x, y)[0]
            if method == 'corr': return pearsonr(x, y)[0]
            return x @ y / np.linalg.norm(x) / np.linalg.norm(y)
        want = [0.0 if method != 'cosine' else score(vec(D), vec(constant))] + [score(vec(D), vec(M)) for M in stack[1:]]
        np.testing.assert_allclose(pb(np.bincount(idx, minlength=20))[0], want, atol=1e-12)


def test_rsa_inputs_with_missing_pairs_empty_stacks_or_constant_rdms():
    from rsatoolbox.rdm import RDMs
    Z, D, H = _simulated_participants(n_stim=12, n_subj=3, noise=0.5, seed=4)
    Hn = H.copy(); Hn[1, 2, 7] = Hn[1, 7, 2] = np.nan  # a missing pair in participant 1, given as an rsatoolbox RDMs
    with pytest.raises(AlignNbError, match='RDM b of stack entry 1: the dissimilarity of stimuli 2 and 7 is nan'):
        ev.compare_rdms(D, RDMs(Hn))
    with pytest.raises(AlignNbError, match='human RDM of subject 1: the dissimilarity of stimuli 2 and 7'):
        ev.rsa_report(Z, RDMs(Hn), n_boot=5)
    with pytest.raises(AlignNbError, match='holds no RDM'):
        ev.compare_rdms(D, np.zeros((0, 12, 12)), n_boot=0)
    # a constant RDM has no rank order and no variance: it scores 0 with everything, also with itself, in every resample
    C = np.full((12, 12), 0.1); np.fill_diagonal(C, 0)  # (0.1 is not exact in binary: its mean need not be exactly 0.1)
    for method in ('spearman', 'corr'):
        c = ev.compare_rdms(C, np.stack([C, H[0]]), method=method, n_boot=50)
        assert c['per_participant'] == [0.0, 0.0] and c['ci'] == [0.0, 0.0], (method, c)


def test_mur92_category_model_pooled_vs_participant_mean_when_present():
    d = shared_data_dir()
    if d is None or not (d / 'mur92' / '92_behavRDMs.mat').is_file(): pytest.skip('shared Mur92 data not present')
    from align_nb.realdata import load_mur92
    mur = load_mur92(d / 'mur92')
    r = ev.rsa_report(mur.category_vectors.astype(np.float32), mur.rdms, n_boot=20)  # 1 - cosine of the 12 category flags
    assert r['rho_pooled'] == pytest.approx(0.570, abs=0.002) and r['rho_subject_mean'] == pytest.approx(0.391, abs=0.002)
    assert r['noise_ceiling_lower'] == pytest.approx(0.477, abs=0.002) and r['noise_ceiling_upper'] == pytest.approx(0.577, abs=0.002)
    # the pooled score would look "at the ceiling"; the comparable participant mean is well below its lower bound
    assert r['rho_subject_mean'] < r['noise_ceiling_lower'] < r['rho_pooled']


def _clustered_trials(m=400, r=8, a=2.0, b=3.0, seed=0):
    "m disjoint triplets, r answers each; the model predicts position 2 everywhere and a triplet's answers hit it with probability p_t ~ Beta(a, b)."
    rng = np.random.default_rng(seed)
    p = rng.beta(a, b, m)
    items = np.arange(3 * m).reshape(m, 3)
    feats = np.tile(np.array([[1., 0.], [1., 0.1], [0., 1.]]), (m, 1))  # (0, 1) most similar: predicted odd one out = position 2
    hit = rng.random((m, r)) < p[:, None]
    odd = np.where(hit, 2, rng.integers(0, 2, (m, r)))
    return feats, Trials(np.repeat(items, r, axis=0), odd.ravel()), p


def test_triplet_bootstrap_matches_the_analytic_variance_and_answer_resampling_is_too_narrow():
    m, r, a, b = 400, 8, 1.0, 1.5
    feats, tr, _ = _clustered_trials(m, r, a, b)
    rep = ev.odd_one_out_report(feats, tr, n_boot=3000, seed=0, val_frac=0)
    assert rep['ci_over'] == 'triplets' and rep['n_triplets'] == m
    # analytic sampling variance of the mean accuracy: triplets drawn at random, then r answers each
    mu = a / (a + b); var_p = a * b / ((a + b) ** 2 * (a + b + 1)); e_pq = mu - (var_p + mu ** 2)
    sd_true = math.sqrt((var_p + e_pq / r) / m)
    sd_boot = (rep['accuracy_ci'][1] - rep['accuracy_ci'][0]) / (2 * 1.959964)
    assert sd_boot == pytest.approx(sd_true, rel=0.15), (sd_boot, sd_true)
    # resampling answers ignores the clustering: narrower by about sqrt(design effect)
    old = ev.bootstrap_ci(ev.odd_one_out_accuracy(feats, tr).astype(float), 3000, seed=0)
    sd_old = (old['hi'] - old['lo']) / (2 * 1.959964)
    deff = (var_p + e_pq / r) / (mu * (1 - mu) / r)
    assert sd_boot / sd_old == pytest.approx(math.sqrt(deff), rel=0.15), (sd_boot / sd_old, math.sqrt(deff))
    assert math.sqrt(deff) > 1.5


def test_single_answer_sets_keep_trial_resampling():
    rng = np.random.default_rng(0)
    F = rng.normal(size=(30, 4))
    items = np.unique(np.sort(np.array([rng.choice(30, 3, replace=False) for _ in range(300)]), 1), axis=0)
    tr = Trials(items, rng.integers(0, 3, len(items)))
    rep = ev.odd_one_out_report(F, tr, n_boot=500, val_frac=0)
    assert rep['ci_over'] == 'trials' and rep['noise_ceiling'] is None and rep['noise_ceiling_loo'] is None
    plain = ev.bootstrap_ci(ev.odd_one_out_accuracy(F, tr).astype(float), 500, seed=0)
    assert rep['accuracy_ci'] == pytest.approx([plain['lo'], plain['hi']])


def _loo_brute_force(counts):
    "Leave-one-out ceiling of one triplet by an explicit loop over its answers."
    answers = [a for a in range(3) for _ in range(int(counts[a]))]
    score = 0.0
    for i, a in enumerate(answers):
        others = np.bincount(answers[:i] + answers[i + 1:], minlength=3)
        tied = np.flatnonzero(others == others.max())
        score += (a in tied) / len(tied)
    return score / len(answers)


def test_loo_ceiling_by_hand_brute_force_and_analytic_expectation():
    from itertools import product
    from scipy.stats import multinomial
    # by hand
    rep = RepeatedTriplets(np.array([[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]]), np.array([[3, 1, 0], [2, 2, 0], [2, 1, 1], [0, 0, 5]]))
    assert ev.ceiling_shares(rep.counts, loo=True) == pytest.approx([0.75, 0.0, 1 / 6, 1.0])
    assert ev.noise_ceiling(rep, loo=True) == pytest.approx((0.75 + 0 + 1 / 6 + 1) / 4) == ev.loo_noise_ceiling(rep)
    # every count vector with up to 7 answers against the brute-force loop
    allc = np.array([c for c in product(range(8), repeat=3) if 2 <= sum(c) <= 7])
    assert ev.ceiling_shares(allc, loo=True) == pytest.approx([_loo_brute_force(c) for c in allc])
    # expectation for i.i.d. observers: with 2 or 3 answers, exactly sum(p^2) (the chance that two answers agree)
    p = np.array([0.6, 0.3, 0.1])
    for n in (2, 3, 5):
        cs = np.array([c for c in product(range(n + 1), repeat=3) if sum(c) == n])
        expect = float((multinomial.pmf(cs, n, p) * ev.ceiling_shares(cs, loo=True)).sum())
        if n < 4: assert expect == pytest.approx((p ** 2).sum())
        maj = float((multinomial.pmf(cs, n, p) * ev.ceiling_shares(cs)).sum())
        assert maj > expect  # the majority share is biased upward
    # a simulation: the estimate converges to the exact expectation
    rng = np.random.default_rng(0)
    counts = rng.multinomial(3, p, size=20000)
    sim = RepeatedTriplets(np.zeros((20000, 3), int), counts)
    nc = ev.noise_ceiling(sim, loo=True, per_kind=True, n_boot=500)
    assert nc['overall'] == pytest.approx((p ** 2).sum(), abs=0.01) and nc['ci'][0] < (p ** 2).sum() < nc['ci'][1] and nc['ci_over'] == 'triplets'
    with pytest.raises(AlignNbError, match='min_n'):
        ev.noise_ceiling(sim, min_n=1, loo=True)


def test_report_temperature_is_fitted_on_triplets_disjoint_from_the_scored_ones():
    rng = np.random.default_rng(0)
    F = rng.normal(size=(25, 5))
    base = np.unique(np.sort(np.array([rng.choice(25, 3, replace=False) for _ in range(150)]), 1), axis=0)
    items = np.repeat(base, 6, axis=0)
    p = ev.odd_one_out_probs(ev.triplet_similarities(F, items), 0.3)
    odd = (rng.random(len(items))[:, None] > np.cumsum(p, 1)).sum(1)
    tr = Trials(items, odd, kind=np.repeat(np.arange(len(base)) % 3, 6).astype(str))
    r = ev.odd_one_out_report(F, tr, n_boot=50, seed=3, val_frac=0.3)
    assert r['temperature_fit_on'].startswith('held-out 0.3') and r['temperature_fit_scored_overlap'] == 0
    # recompute the split independently: the report's temperature is the fit on the held-out part only ...
    fit, scored = ev.split_by_triplet(tr, 0.3, seed=3)
    kf, ks = set(map(tuple, np.sort(fit.items, 1))), set(map(tuple, np.sort(scored.items, 1)))
    assert not kf & ks and len(kf) == r['n_temperature_fit_triplets'] and len(ks) == r['n_temperature_scored_triplets']
    T_fit = ev.fit_temperature(ev.triplet_similarities(F, fit.items), fit)
    assert r['temperature'] == pytest.approx(T_fit, rel=1e-6)
    # ... and the KL is computed on the other triplets with that temperature
    rs = scored.aggregate()
    kl = ev.kl_to_human(ev.odd_one_out_probs(ev.triplet_similarities(F, rs.items), T_fit), rs.probs)
    assert r['kl_to_human'] == pytest.approx(kl) and r['kl_to_human_ci'][0] <= kl <= r['kl_to_human_ci'][1]
    assert r['uncertainty']['n_triplets'] == len(ks) and r['uncertainty']['entropy_spearman_ci'] is not None
    # it is not the in-sample fit on the scored triplets
    assert r['temperature'] != pytest.approx(ev.fit_temperature(ev.triplet_similarities(F, scored.items), scored), rel=1e-4)
    # given val_trials that overlap the scored trials, the shared triplets are left out of the measures
    r2 = ev.odd_one_out_report(F, tr, val_trials=tr, n_boot=10)
    assert r2['temperature_fit_on'] == 'val_trials' and r2['n_overlap_excluded'] == len(base)
    assert r2['n_temperature_scored_triplets'] == 0 and r2['kl_to_human'] is None
    # no held-out data: no temperature-dependent numbers at all
    r3 = ev.odd_one_out_report(F, tr, n_boot=10, val_frac=0)
    assert r3['temperature'] is None and r3['kl_to_human'] is None and r3['temperature_fit_on'] is None


def test_set_report_fits_the_temperature_out_of_sample():
    from align_nb.data import ArrayImages
    from align_nb.study import EvalSet, set_report
    rng = np.random.default_rng(1)
    F = rng.normal(size=(25, 5))
    base = np.unique(np.sort(np.array([rng.choice(25, 3, replace=False) for _ in range(120)]), 1), axis=0)
    items = np.repeat(base, 5, axis=0)
    p = ev.odd_one_out_probs(ev.triplet_similarities(F, items), 0.3)
    tr = Trials(items, (rng.random(len(items))[:, None] > np.cumsum(p, 1)).sum(1))
    es = EvalSet('sim', ArrayImages(np.zeros((25, 2, 2, 3), np.uint8)), trials=tr)
    rows = {q['measure']: q for q in set_report(F, es, n_boot=50, seed=2)}
    fit, _ = ev.split_by_triplet(tr, 0.3, seed=2)
    assert rows['temperature']['value'] == pytest.approx(ev.fit_temperature(ev.triplet_similarities(F, fit.items), fit), rel=1e-6)
    assert '0 shared' in rows['temperature']['fitted_on']
    for k in ('odd-one-out accuracy', 'noise ceiling (majority share)', 'noise ceiling (leave-one-out)', 'KL(human||model) [nats]', 'entropy Spearman (model vs human)'):
        q = rows[k]
        assert q['ci_over'] == 'triplets' and q['lo'] <= q['value'] <= q['hi'], k
    assert rows['odd-one-out accuracy']['ceiling_upper'] == pytest.approx(rows['noise ceiling (majority share)']['value'])
    assert rows['odd-one-out accuracy']['ceiling_lower'] == pytest.approx(rows['noise ceiling (leave-one-out)']['value'])


def test_things_triplet_intervals_twice_as_wide_as_answer_intervals_when_present():
    d = shared_data_dir()
    if d is None or not (d / 'things' / 'test_triplets.csv').is_file(): pytest.skip('shared THINGS data not present')
    raw = np.loadtxt(d / 'things' / 'test_triplets.csv', dtype=np.int64)
    tt = Trials(raw[:, :3] - 1, raw[:, 3] - 1, source='things/test_triplets.csv')
    spose = np.loadtxt(d / 'things' / 'spose_embedding_66d_sorted.txt')
    r = ev.odd_one_out_report(spose, tt, metric='dot', n_boot=1000)
    old = ev.bootstrap_ci(ev.odd_one_out_accuracy(spose, tt, 'dot').astype(float), 1000)
    w_new, w_old = r['accuracy_ci'][1] - r['accuracy_ci'][0], old['hi'] - old['lo']
    assert r['ci_over'] == 'triplets' and 1.7 < w_new / w_old < 2.5, (w_new, w_old)  # measured: 0.026 vs 0.013
    assert r['noise_ceiling'] == pytest.approx(0.672, abs=0.002) and r['noise_ceiling_loo'] < r['noise_ceiling'] - 0.01
    assert r['noise_ceiling_ci'][0] < r['noise_ceiling'] < r['noise_ceiling_ci'][1]


def test_fused_odd_one_out_predictions_equal_the_two_step_route_with_ties():
    from align_nb.evaluate import odd_one_out_predictions, predict_odd, triplet_similarities, similarity_matrix
    rng = np.random.default_rng(0)
    X = rng.integers(-2, 3, (40, 3)).astype(np.float32); X[X.sum(1) == 0, 0] = 1  # small integers: many exact ties
    items = rng.integers(0, 40, (5000, 3))
    for metric in ('cosine', 'dot'):
        ref = predict_odd(triplet_similarities(X, items, metric))
        assert (ref == -1).any()  # ties present
        for kw in (dict(), dict(chunk_size=37)):
            np.testing.assert_array_equal(odd_one_out_predictions(X, items, metric, **kw), ref)
        rowwise = predict_odd(triplet_similarities(X, items, metric, max_matrix_items=10))  # the row-wise route, for many items
        np.testing.assert_array_equal(odd_one_out_predictions(X, items, metric, max_matrix_items=10), rowwise)
    S = similarity_matrix(X, 'dot')
    np.testing.assert_array_equal(odd_one_out_predictions(S, items, 'precomputed'), predict_odd(triplet_similarities(S, items, 'precomputed')))
    with pytest.raises(AlignNbError, match='out of range'): odd_one_out_predictions(X, [[0, 1, 40]])


def test_report_results_attributes_dict_frame_repr():
    "The reports return result objects: attributes, to_dict (the JSON record), to_frame (tidy, intervals split into _lo/_hi), a readable repr."
    rng = np.random.default_rng(1)
    F = rng.normal(size=(20, 4))
    base = np.unique(np.sort(rng.integers(0, 20, (120, 3)), 1), axis=0); base = base[(np.diff(base, axis=1) > 0).all(1)][:40]
    it = np.repeat(base, 3, axis=0)
    tr = Trials(it, rng.integers(0, 3, len(it)), kind=np.array(['x', 'y'])[np.arange(len(it)) // 3 % 2])
    r = ev.odd_one_out_report(F, tr, n_boot=20)
    assert isinstance(r, ev.OddOneOutResult) and r.accuracy == r['accuracy'] == r.to_dict()['accuracy']
    d = json.loads(json.dumps(r.to_dict()))
    assert list(d)[:5] == ['n_trials', 'n_triplets', 'metric', 'chance', 'accuracy'] and set(d['per_kind']) == {'x', 'y'}
    f = r.to_frame()
    assert f.kind.tolist() == ['all', 'x', 'y'] and (f.accuracy_lo[0], f.accuracy_hi[0]) == tuple(r.accuracy_ci)
    assert f.accuracy[2] == r.per_kind['y']['accuracy'] and f.kl_to_human[0] == r.kl_to_human
    assert r.to_frame(per_kind=False).shape[0] == 1 and 'OddOneOutResult(accuracy' in repr(r)
    with pytest.raises(KeyError, match='no field'): r['acc']
    H = np.stack([ev.model_rdm(F + 0.3 * rng.normal(size=F.shape)) for _ in range(3)])
    rr = ev.rsa_report(F, H, n_boot=20)
    row = rr.to_frame().iloc[0]
    assert (row.rho_subject_mean, row.rho_subject_mean_lo, row.rho_pooled_hi) == (rr.rho_subject_mean, rr.rho_subject_mean_ci[0], rr.rho_pooled_ci[1])
    assert 'RSAResult(spearman participant mean' in repr(rr) and rr.to_dict()['rho_per_subject'] == rr.rho_per_subject
    ar = ev.anchored_report(F, AnchoredTriplets(it), n_boot=20)
    assert ar.to_frame().accuracy_lo[0] == ar.ci[0] and 'AnchoredResult(' in repr(ar)
    t = ev.tidy_table(f, dict(level='kind', score='accuracy'), dict(model='m'), measure='acc')
    assert t.columns.tolist() == ['model', 'level', 'score'] and t.score.tolist() == f.accuracy.tolist()

"Unit tests of align_nb.teacher: transform convention, identity teacher, fitting, regulariser, .npz layout, report."
import os
os.environ['HF_HUB_OFFLINE'] = '1'
import numpy as np
import pytest
import torch
from align_nb.core import AlignNbError
from align_nb.data import Trials
from align_nb.teacher import Teacher, fit_teacher, teacher_report, identity_penalty, local_contrastive_loss
from align_nb.evaluate import triplet_similarities, pair_probs, fit_temperature


def teacher_sims(x, items):
    "The teacher's pair similarities: float64 dot products, row by row."
    return triplet_similarities(x, items, 'dot', max_matrix_items=0, dtype='float64')

torch.set_num_threads(1)
PUBLISHED = {'weights', 'bias', 'mean', 'std'}


def toy(n=60, d=4, extra=8, n_trials=6000, seed=0, T=1.0, repeats=1):
    "Ground-truth embedding z; features = ill-conditioned linear mix of z + high-variance nuisance dims; simulated choices."
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1, (n, d))
    A = rng.normal(0, 1, (d, d)) * np.array([3., 1., .3, .1])[:, None]
    feats = np.concatenate([z @ A, rng.normal(0, 2, (n, extra))], 1)
    items = np.array([rng.choice(n, 3, replace=False) for _ in range(n_trials // repeats)])
    items = np.repeat(items, repeats, 0)
    probs = pair_probs(teacher_sims(z, items), T)[:, ::-1]
    odd = (rng.random(len(items))[:, None] > np.cumsum(probs, 1)).sum(1)
    return z, feats, Trials(items, odd)


def test_transform_2x2_hand_computed():
    t = Teacher(weights=[[1., 2.], [0., 1.]], bias=[0.5, -0.5], mean=np.array(1.), std=np.array(2.))
    # x = (f - 1) / 2 = [1, 2] and [0, -1]; x @ W = [1, 4] and [0, -1]; + b
    np.testing.assert_allclose(t.transform([[3., 5.], [1., -1.]]), [[1.5, 3.5], [0.5, -1.5]])


def test_identity_teacher_leaves_standardised_features():
    f = np.random.default_rng(1).normal(5, 3, (30, 6))
    t = Teacher.identity(f)
    np.testing.assert_array_equal(t.weights, np.eye(6)); np.testing.assert_array_equal(t.bias, 0)
    np.testing.assert_allclose(t.transform(f), (f - f.mean()) / f.std(), atol=1e-5)
    assert t.mean.size == 1 and t.std.size == 1  # one global scalar each (gLocal)


def test_identity_penalty_on_hand_made_W():
    W = np.array([[2., 1.], [0., 4.]])  # mean diag 3: (2-3)^2 + 1^2 + 0^2 + (4-3)^2 = 3
    assert identity_penalty(W) == pytest.approx(3.0)
    assert float(identity_penalty(torch.tensor(W))) == pytest.approx(3.0)
    assert identity_penalty(5 * np.eye(3)) == 0.0


def test_local_contrastive_loss_is_entropy_when_unchanged_and_larger_otherwise():
    x = torch.tensor([[1., 0.], [0., 1.], [2 ** -.5, 2 ** -.5]])
    c = 2 ** -.5  # cosines: s01 = 0, s02 = s12 = 1/sqrt(2)
    rows = [np.array([0., c]), np.array([0., c]), np.array([c, c])]
    H = np.mean([-(p * np.log(p)).sum() for p in (np.exp(r) / np.exp(r).sum() for r in rows)])
    assert float(local_contrastive_loss(x, x, 1.0)) == pytest.approx(H, abs=1e-6)
    assert float(local_contrastive_loss(x, x[[1, 0, 2]] * torch.tensor([[1.], [1.], [-1.]]), 1.0)) > H + 0.01


def test_fit_raises_heldout_accuracy_above_untransformed():
    z, feats, trials = toy()
    tr, va, te = trials.subset(np.arange(4000)), trials.subset(np.arange(4000, 5000)), trials.subset(np.arange(5000, 6000))
    teacher, hist = fit_teacher(feats, tr, va, lam=0.01, lr=1e-2, max_epochs=40, patience=5, local_features=feats, progress=False)
    base = teacher_report(Teacher.identity(feats), feats, te)['accuracy']
    fitted = teacher_report(teacher, feats, te)['accuracy']
    assert fitted > base + 0.05, (base, fitted)
    assert {'epoch', 'train_loss', 'train_global', 'train_local', 'train_reg', 'val_loss', 'val_acc'} <= set(hist.columns)
    assert hist.best.sum() == 1 and np.isfinite(hist.train_local.iloc[1:]).all()
    # best weights restored: the teacher's val loss equals the best row's
    s = teacher_sims(teacher.transform(feats), va.items)
    vl = -np.log(pair_probs(s)[:, ::-1][np.arange(len(va)), va.odd]).mean()
    assert vl == pytest.approx(hist.loc[hist.best, 'val_loss'].item(), rel=1e-4)
    assert 0 < teacher.temperature < 100


def test_fit_with_model_targets_learns_from_soft_labels():
    z, feats, trials = toy(n_trials=3000)
    tr, va = trials.subset(np.arange(2000)), trials.subset(np.arange(2000, 3000))
    true_pairs = pair_probs(teacher_sims(z, tr.items))  # the true model, as pair probabilities
    t, _ = fit_teacher(feats, tr, va, targets='model', model_probs=true_pairs, alpha=0, lam=0.0, lr=1e-2, max_epochs=30, progress=False)
    assert teacher_report(t, feats, va)['accuracy'] > teacher_report(Teacher.identity(feats), feats, va)['accuracy'] + 0.05
    with pytest.raises(AlignNbError, match='model_probs'):
        fit_teacher(feats, tr, va, targets='model', progress=False)


def test_fit_with_empirical_targets_uses_repeated_answers():
    z, feats, trials = toy(n_trials=4000, repeats=4)
    tr, va = trials.subset(np.arange(3000)), trials.subset(np.arange(3000, 4000))
    t, hist = fit_teacher(feats, tr, va, targets='empirical', alpha=0, lam=0.0, lr=1e-2, max_epochs=30, progress=False)
    agg = tr.aggregate()
    assert t.info['n_train'] == len(agg) and 700 < len(agg) <= 750  # 750 drawn triplets x 4 answers (a few drawn twice)
    rep = teacher_report(t, feats, va)
    assert rep['n_repeated'] == int((va.aggregate().n >= 2).sum()) >= 240
    assert rep['kl'] < teacher_report(Teacher.identity(feats), feats, va)['kl']


def test_teacher_calibration_recovers_generating_temperature():
    rng = np.random.default_rng(0)
    s = rng.normal(0, 1, (6000, 3))
    p = pair_probs(s, 0.4)[:, ::-1]
    odd = (rng.random(len(s))[:, None] > np.cumsum(p, 1)).sum(1)
    assert fit_temperature(s, odd, per_triplet=True, xatol=1e-6) == pytest.approx(0.4, rel=0.15)


def test_npz_round_trip_equals_and_uses_published_keys(tmp_path):
    rng = np.random.default_rng(0)
    t = Teacher(rng.normal(size=(5, 5)), rng.normal(size=5), np.array(0.3), np.array(1.7), temperature=0.25)
    t.save(tmp_path / 't.npz')
    with np.load(tmp_path / 't.npz') as z: keys = set(z.files)
    assert keys == PUBLISHED | {'temperature'}
    t2 = Teacher.load(tmp_path / 't.npz')
    for k in PUBLISHED: np.testing.assert_array_equal(getattr(t2, k), getattr(t, k))
    assert t2.temperature == 0.25 and t2.content_hash() == t.content_hash()


def test_published_glocal_file_loads_and_transforms_like_glocal(tmp_path):
    rng = np.random.default_rng(0)
    W, b, f = rng.normal(size=(4, 4)), rng.normal(size=4), rng.normal(2, 3, (7, 4))
    np.savez(tmp_path / 'transform.npz', weights=W, bias=b, mean=f.mean(), std=f.std(), extra=np.arange(3))
    t = Teacher.load(tmp_path / 'transform.npz')
    assert t.temperature == 1.0
    np.testing.assert_allclose(t.transform(f), ((f - f.mean()) / f.std()) @ W + b, rtol=1e-4, atol=1e-4)


def test_load_with_missing_key_names_file_and_key(tmp_path):
    np.savez(tmp_path / 'bad.npz', weights=np.eye(2), bias=np.zeros(2), mean=0.)
    with pytest.raises(AlignNbError, match=r"bad\.npz.*'std'"):
        Teacher.load(tmp_path / 'bad.npz')
    with pytest.raises(FileNotFoundError, match='nope.npz'):
        Teacher.load(tmp_path / 'nope.npz')


def test_bad_shapes_are_clear_errors():
    with pytest.raises(AlignNbError, match='bias'):
        Teacher(np.eye(3), np.zeros(2), np.array(0.), np.array(1.))
    with pytest.raises(AlignNbError, match='one global scalar'):
        Teacher(np.eye(3), np.zeros(3), np.zeros(3), np.array(1.))
    with pytest.raises(AlignNbError, match=r'\(n, 3\)'):
        Teacher.identity(np.ones((4, 3)) + np.arange(3)).transform(np.ones((2, 2)))


def test_teacher_report_hand_computed():
    feats = np.array([[2., 0.], [1., 0.], [0., 1.]])  # s01 = 2, s02 = 0, s12 = 0
    t = Teacher(np.eye(2), np.zeros(2), np.array(0.), np.array(1.), temperature=1.0)
    trials = Trials(np.tile([0, 1, 2], (4, 1)), [2, 2, 2, 0])
    q = np.exp([0., 0., 2.]) / np.exp([0., 0., 2.]).sum()  # P(odd=0), P(odd=1), P(odd=2)
    r = teacher_report(t, feats, trials)
    assert r['accuracy'] == pytest.approx(0.75)
    assert r['kl'] == pytest.approx(0.25 * np.log(0.25 / q[0]) + 0.75 * np.log(0.75 / q[2]))
    assert r['ece'] == pytest.approx(abs(0.75 - q[2]))  # one confidence bin
    assert all(type(v) in (float, int) for v in r.values())


def test_teacher_similarities_keep_the_float64_teacher_arithmetic():
    "The teacher's similarities are bit-identical [s01, s02, s12] to its row-wise float64 code (AligNet labels unchanged)."
    import numpy as np
    from align_nb.evaluate import triplet_similarities
    rng = np.random.default_rng(1)
    E = rng.normal(size=(300, 48)).astype(np.float32); it = rng.integers(0, 300, (5000, 3))
    t = E[it].astype(np.float64)
    want = np.stack([(t[:, 0] * t[:, 1]).sum(-1), (t[:, 0] * t[:, 2]).sum(-1), (t[:, 1] * t[:, 2]).sum(-1)], 1)
    assert np.array_equal(Teacher(np.eye(48), np.zeros(48), np.array(0.), np.array(1.)).similarities(E, it), want)
    assert np.array_equal(triplet_similarities(E, it, metric='dot', dtype='float64', max_matrix_items=0), want)
    assert np.allclose(triplet_similarities(E, it, metric='dot', dtype='float64'), want, rtol=1e-12, atol=1e-9)

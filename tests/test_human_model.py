"Tests of align_nb.human_model (SPoSE-style human model, the teacher's soft targets) and of where the teacher's targets come from."
import json
from pathlib import Path
import numpy as np
import pytest
from align_nb.core import AlignNbError, shared_data_dir
from align_nb.data import Trials
from align_nb.human_model import HumanModel, fit_spose, fit_human_model, human_model_report, load_human_embedding, split_by_triplet

DATA = shared_data_dir()


def _planted(n=40, d=4, seed=0):
    r = np.random.default_rng(seed)
    return HumanModel(np.where(r.random((n, d)) < 0.5, r.gamma(2., 1., (n, d)), 0) + 0.05 * r.random((n, d)))


def _simulate(model, m, seed):
    r = np.random.default_rng(seed)
    it = np.argsort(r.random((m, model.n_items)), 1)[:, :3]
    p = model.odd_probs(it)
    return Trials(it, np.minimum((r.random(m)[:, None] > np.cumsum(p, 1)).sum(1), 2))


@pytest.fixture(scope='module')
def planted():
    true = _planted()
    tr, va, te = _simulate(true, 10000, 1), _simulate(true, 2000, 2), _simulate(true, 5000, 3)
    hm, hist = fit_human_model(tr, va, true.n_items, lams=(0.005, 0.02), dim=12, lr=0.01, max_epochs=200, progress=False)
    return true, tr, va, te, hm


def test_fit_recovers_the_planted_choice_structure(planted):
    true, tr, va, te, hm = planted
    fit, gen = human_model_report(hm, te), human_model_report(true, te)
    assert gen['accuracy'] > 0.6
    assert fit['accuracy'] > gen['accuracy'] - 0.03, (fit, gen)      # close to the generating model on fresh triplets
    assert fit['accuracy'] > 1 / 3 + 0.2                              # far above chance
    assert fit['nll'] < gen['nll'] + 0.03
    pt, pf = true.pair_probs(te.items), hm.pair_probs(te.items)
    assert np.abs(pt - pf).mean() < 0.06 and (pt.argmax(1) == pf.argmax(1)).mean() > 0.8
    assert (hm.embedding >= 0).all() and hm.dim <= 12


def test_soft_targets_are_probabilities_from_training_triplets_only(planted):
    true, tr, va, te, hm = planted
    mp = hm.pair_probs(tr.items)
    assert mp.shape == (len(tr), 3) and np.allclose(mp.sum(1), 1) and (mp >= 0).all()
    assert hm.info['n_fit_trials'] + hm.info['n_stop_trials'] == len(tr)  # early stopping on held-back *training* triplets
    # other validation answers: the same embedding (only the temperature, calibrated on them, changes)
    r = np.random.default_rng(9)
    va2 = Trials(va.items, r.integers(0, 3, len(va)))
    hm2, _ = fit_human_model(tr, va2, true.n_items, lams=(0.005, 0.02), dim=12, lr=0.01, max_epochs=200, progress=False)
    assert np.array_equal(hm2.embedding, hm.embedding)
    assert hm2.temperature > 2 * hm.temperature  # random answers -> a flatter calibrated model
    # the temperature is fitted on val, not on the training answers: calibrating on train gives another value
    t_train = HumanModel(hm.embedding).calibrate(tr).temperature
    assert abs(t_train - hm.temperature) > 1e-3 and hm.info['calibrated_on']['n_trials'] == len(va)
    # other training answers: another embedding
    tr2 = Trials(tr.items, r.integers(0, 3, len(tr)))
    hm3, _ = fit_spose(tr2, true.n_items, dim=12, lam=0.005, lr=0.01, max_epochs=20, progress=False)
    assert not np.allclose(hm3.embedding[:, :min(hm3.dim, hm.dim)], hm.embedding[:, :min(hm3.dim, hm.dim)])


def test_split_by_triplet_keeps_repeated_answers_together():
    t = Trials(np.repeat(np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8], [1, 2, 3]]), 3, 0), np.zeros(12, np.int64))
    a, b = split_by_triplet(t, 0.25, seed=0)
    ka = {tuple(sorted(x)) for x in a.items.tolist()}; kb = {tuple(sorted(x)) for x in b.items.tolist()}
    assert not ka & kb and len(a) + len(b) == 12 and len(kb) == 1


def test_bad_inputs_name_what_is_wrong(tmp_path):
    with pytest.raises(AlignNbError, match='temperature'): HumanModel(np.ones((3, 2)), temperature=-1)
    with pytest.raises(AlignNbError, match='out of range'): fit_spose(Trials(np.array([[0, 1, 5]]), np.array([2])), 4, progress=False)
    with pytest.raises(FileNotFoundError, match='no such file'): load_human_embedding(tmp_path / 'x.npy')
    np.savetxt(tmp_path / 'e.txt', np.ones((3, 2)))
    with pytest.raises(AlignNbError, match='4'): load_human_embedding(tmp_path / 'e.txt', n_items=4)


@pytest.mark.skipif(DATA is None or not (DATA / 'things' / 'vice_embedding_42d.npy').is_file(), reason='shared THINGS files absent')
def test_supplied_vice_and_spose_files_load_and_predict_humans():
    from align_nb.realdata import load_things_noise_ceiling_csv
    test = load_things_noise_ceiling_csv(DATA / 'things' / 'test_triplets.csv')
    for f, dim in (('spose_embedding_66d_sorted.txt', 66), ('vice_embedding_42d.npy', 42)):
        hm = load_human_embedding(DATA / 'things' / f, 1854)
        assert hm.dim == dim and hm.temperature == 1.0
        r = human_model_report(hm, test)
        assert 0.62 < r['accuracy'] < 0.65 and r['n_repeated'] == 1000 and r['kl'] > 0, r


def test_toy_default_targets_never_read_the_oracle(tmp_path, monkeypatch):
    "The toy teacher's default targets come from a human model fitted on things_train; only targets='oracle' reads observer_probs."
    from align_nb.toy_study import toy_world, toy_teacher_targets
    from align_nb.toyworld import ToyWorld
    w = toy_world(quick=True, cache_dir=tmp_path, n_things_train=1500, n_things_val=300)
    calls = []
    orig = ToyWorld.observer_probs
    monkeypatch.setattr(ToyWorld, 'observer_probs', lambda self, *a, **k: calls.append(a) or orig(self, *a, **k))
    kind, mp, hm, info = toy_teacher_targets(w, human_kw={'lams': (0.01,), 'lr': 0.01, 'max_epochs': 60})
    assert calls == [] and kind == 'model' and info['targets'] == 'model' and 'things_train' in info['source']
    assert np.allclose(mp, hm.pair_probs(w.things_train.items)) and info['test']['n_repeated'] > 0
    toy_teacher_targets(w, 'oracle')
    assert len(calls) == 1  # the named upper bound does read it
    # the paper notebook defaults to 'model' and reaches the observer only through toy_teacher_targets
    nb = json.loads((Path(__file__).parents[1] / 'nbs' / 'paper' / 'teacher_triplets.ipynb').read_text())
    params = next(c for c in nb['cells'] if 'parameters' in c.get('metadata', {}).get('tags', []))
    ns = {}; exec(''.join(params['source']), ns)
    assert ns['targets'] == 'model' and ns['sampling'] == 'shared'
    code = ''.join(''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'code')
    assert 'observer_probs' not in code and 'toy_teacher_targets(world, targets' in code

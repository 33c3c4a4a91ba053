"Tests of the embedded default world (align_nb.toyworld)."
import os
os.environ['HF_HUB_OFFLINE'] = '1'
import dataclasses, json
from pathlib import Path
import numpy as np
import pytest
from align_nb.core import AlignNbError
from align_nb.toyworld import (ToyConfig, ToyWorld, build_toyworld, make_toyworld, config_hash, triplet_probs,
                               expected_majority_share, calibrate_temperature, render_images, _world_params, LEVEL_KINDS,
                               TOYWORLD_VERSION, _ARRAYS)

SMALL = ToyConfig(n_super=3, n_basic=3, n_sub=2, pool_per_concept=3, shift_per_concept=2, levels_per_concept=3,
                  n_things_train=400, n_things_val=50, n_things_test=30, n_levels_per_kind=15, n_rdm=12, n_calib=400)

@pytest.fixture(scope='module')
def small(): return build_toyworld(SMALL)

@pytest.fixture(scope='module')
def default(): return build_toyworld()

def _same_world(a, b):
    assert a.cfg == b.cfg and a.temperature == b.temperature
    for k in _ARRAYS: np.testing.assert_array_equal(a.arrays[k], b.arrays[k], err_msg=k)

def test_same_seed_gives_identical_world(small):
    _same_world(small, build_toyworld(SMALL))

def test_different_seed_gives_different_world(small):
    other = build_toyworld(dataclasses.replace(SMALL, seed=1))
    assert not np.array_equal(small.pool.arr, other.pool.arr)
    assert not np.array_equal(small.things_train.items, other.things_train.items)
    assert not np.array_equal(small.arrays['concept_psych'], other.arrays['concept_psych'])

def test_rendering_does_not_depend_on_chunk_size():
    p = _world_params(SMALL, np.random.default_rng(0))
    a = render_images(SMALL, p, np.arange(7), np.random.default_rng(1), chunk=2)
    b = render_images(SMALL, p, np.arange(7), np.random.default_rng(1), chunk=256)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (7, 32, 32, 3) and a.dtype == np.uint8

def test_taxonomy_sizes(small):
    t = small.taxonomy
    assert len(t) == 18 and t.super.nunique() == 3 and t.basic.nunique() == 9 and t['sub'].nunique() == 18
    assert (t.groupby('basic').size() == 2).all()
    # one held-out basic category per superordinate
    assert (t.drop_duplicates('basic').groupby('super').held_out.sum() == 1).all()
    assert small.n_classes == 6 and len(small.pool) == 12 * 3 and len(small.shift) == 6 * 2 and len(small.things) == 18
    held = set(t.basic[t.held_out]); pool_b = set(small.pool.labels['basic'])
    assert not held & pool_b and set(small.shift.labels['basic']) == held
    assert set(small.levels.labels['basic']) == pool_b
    bc = small.pool.labels['basic_class']
    assert sorted(set(bc)) == list(range(6))
    assert all(small.basic_class_of[int(b)] == c for b, c in zip(small.pool.labels['basic'], bc))
    np.testing.assert_array_equal(small.things.labels['concept'], np.arange(18))

def test_default_sizes(default):
    s = default.summary()
    assert s['n_concepts'] == 64 and s['n_pool_classes'] == 12
    assert s['n_images'] == {'things': 64, 'pool': 12 * 4 * 22, 'levels': 12 * 4 * 6, 'rdm': 48, 'shift': 4 * 4 * 8}
    assert s['n_trials']['things_train'] == 20000 and s['n_trials']['things_test_triplets'] == 300
    assert s['n_trials']['levels_triplets'] == 750

def test_levels_kinds_have_their_defining_property(small):
    tr = small.levels_trials; b = small.levels.labels['basic'][tr.items]
    nb = np.array([len(set(r)) for r in b])
    assert set(tr.kind) == set(LEVEL_KINDS)
    assert (nb[tr.kind == 'between_class'] == 3).all()
    assert (nb[tr.kind == 'within_class'] == 1).all()
    assert (nb[tr.kind == 'class_border'] == 2).all()
    r = tr.aggregate()
    assert all((r.kind == k).sum() == 15 for k in LEVEL_KINDS) and (r.n == 10).all()
    # each triplet is answered by different subjects
    for i in range(0, len(tr), 10): assert len(set(tr.subject[i:i + 10])) == 10

def test_trials_validate_against_their_image_sets(small):
    small.things_train.validate(len(small.things)); small.things_val.validate(len(small.things))
    small.things_test.validate(len(small.things)); small.levels_trials.validate(len(small.levels))
    assert (small.things_test.aggregate().n == 15).all() and len(small.things_test.aggregate()) == 30
    with pytest.raises(AlignNbError, match='out of range'): small.levels_trials.validate(5)

def test_calibrated_ceiling_matches_target(default):
    c = default.noise_ceilings()
    assert abs(c['things'] - 0.67) < 0.03
    assert set(c) == {'things', 'levels', 'levels_between_class', 'levels_within_class', 'levels_class_border'}

def test_calibration_hits_target_exactly_on_its_triplets():
    rng = np.random.default_rng(0); e = rng.normal(size=(10, 4)); it = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8], [1, 5, 9]])
    t = calibrate_temperature(e, it, 0.6, 12)
    assert abs(expected_majority_share(triplet_probs(e, it, t), 12).mean() - 0.6) < 1e-6
    with pytest.raises(AlignNbError, match='outside'): calibrate_temperature(e, it, 0.35, 12)

def test_triplet_probs_and_majority_share_by_hand():
    e = np.array([[1., 0], [1, 0], [0, 2]])  # s01 = 1, s02 = 0, s12 = 0
    np.testing.assert_allclose(triplet_probs(e, [[0, 1, 2]], 1.)[0], np.array([1, 1, np.e]) / (2 + np.e))
    np.testing.assert_allclose(triplet_probs(e, [[2, 0, 1]], 1.)[0], np.array([np.e, 1, 1]) / (2 + np.e))
    # three answers at chance: all same 3/27 (share 1), two same 18/27 (2/3), all different 6/27 (1/3)
    np.testing.assert_allclose(expected_majority_share([[1/3] * 3], 3), [17 / 27])

def test_save_load_round_trip(small, tmp_path):
    small.save(tmp_path / 'w'); w = ToyWorld.load(tmp_path / 'w')
    _same_world(small, w)
    np.testing.assert_array_equal(w.levels_trials.kind, small.levels_trials.kind)
    assert w.noise_ceilings() == small.noise_ceilings()
    assert json.loads((tmp_path / 'w' / 'world.json').read_text())['version'] == TOYWORLD_VERSION

def test_load_errors_name_the_file(small, tmp_path):
    with pytest.raises(FileNotFoundError, match='world.json'): ToyWorld.load(tmp_path / 'nothing')
    small.save(tmp_path / 'w'); (tmp_path / 'w' / 'world.npz').unlink()
    with pytest.raises(FileNotFoundError, match='world.npz'): ToyWorld.load(tmp_path / 'w')
    small.save(tmp_path / 'v'); m = json.loads((tmp_path / 'v' / 'world.json').read_text()); m['version'] = 'toyworld-0'
    (tmp_path / 'v' / 'world.json').write_text(json.dumps(m))
    with pytest.raises(AlignNbError, match='generator version'): ToyWorld.load(tmp_path / 'v')

def test_cache_reuses_built_world(small, tmp_path):
    w1 = make_toyworld(SMALL, cache_dir=tmp_path); w2 = make_toyworld(SMALL, cache_dir=tmp_path)
    assert (w1.cache_hit, w2.cache_hit) == (False, True)
    assert w2.cache_folder == tmp_path / 'toyworld' / config_hash(SMALL)
    _same_world(w2, small)
    w3 = make_toyworld(dataclasses.replace(SMALL, seed=3), cache_dir=tmp_path)
    assert not w3.cache_hit and len(list((tmp_path / 'toyworld').iterdir())) == 2

def test_rdms_symmetric_zero_diagonal(small):
    r = small.rdm_human
    assert r.shape == (8, 12, 12) and r.dtype.kind == 'f'
    np.testing.assert_array_equal(r, r.transpose(0, 2, 1))
    np.testing.assert_array_equal(r[:, np.arange(12), np.arange(12)], 0)
    off = r[:, ~np.eye(12, dtype=bool)]
    assert (off > 0).all()
    assert not np.allclose(r[0], r[1])  # subjects differ

def test_simulated_choices_match_observer_probs(default):
    it = default.levels_trials.aggregate().items[:1]  # one repeated triplet
    p = default.observer_probs('levels', it)[0]
    n = 20000; a = default.answer('levels', np.repeat(it, n, 0), seed=5)
    f = np.bincount(a, minlength=3) / n
    assert (np.abs(f - p) < 4 * np.sqrt(p * (1 - p) / n) + 1e-9).all()
    # the stored repeated THINGS-like answers: summed counts per position vs their expectation
    r = default.things_test.aggregate(); q = default.observer_probs('things', r.items) * r.n[:, None]
    z = (r.counts.sum(0) - q.sum(0)) / np.sqrt((q * (1 - q / r.n[:, None])).sum(0))
    assert (np.abs(z) < 4).all()

def test_reaction_time_grows_with_entropy(default):
    tr = default.levels_trials; p = default.observer_probs('levels', tr.items)
    h = -(p * np.log(p)).sum(1)
    assert (tr.rt > 0).all() and np.corrcoef(h, np.log(tr.rt))[0, 1] > 0.3

def test_observer_is_hierarchical(default):
    s = default.observer_shares()
    assert s['levels_within_class'] < s['levels_class_border']
    emb = default.psych('things'); t = default.taxonomy
    sim = emb @ emb.T
    same_basic = sim[0, (t.basic == t.basic[0]) & (t.concept != 0)].mean()
    same_super = sim[0, (t.super == t.super[0]) & (t.basic != t.basic[0])].mean()
    other = sim[0, t.super != t.super[0]].mean()
    assert same_basic > same_super > other

def test_bad_config_and_inputs_give_clear_errors(small):
    with pytest.raises(AlignNbError, match='ToyConfig.n_sub=0'): build_toyworld(ToyConfig(n_sub=0))
    with pytest.raises(AlignNbError, match='n_heldout_basic'): make_toyworld(ToyConfig(n_heldout_basic=4), use_cache=False)
    with pytest.raises(AlignNbError, match='levels_repeats'): ToyConfig(levels_repeats=1).validate()
    with pytest.raises(AlignNbError, match='unknown split'): small.observer_probs('imagenet', [[0, 1, 2]])
    with pytest.raises(AlignNbError, match='out of range'): small.observer_probs('things', [[0, 1, 99]])
    with pytest.raises(AlignNbError, match=r'\(n, 3\)'): small.observer_probs('things', [0, 1, 2])

def test_fixed_temperature_skips_calibration():
    w = build_toyworld(dataclasses.replace(SMALL, temperature=2.5))
    assert w.temperature == 2.5

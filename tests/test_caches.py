"""Caches verify what they serve and their keys hold the producing code's version:
a changed, cut-short or unreadable cached backbone, world or feature file is reported with its path and rebuilt, and
the rebuilt result equals a fresh computation."""
import os
os.environ['HF_HUB_OFFLINE'] = '1'
import warnings
from pathlib import Path
import numpy as np
import pytest
import torch

from align_nb.core import AlignNbError, load_json
from align_nb.data import ArrayImages
import align_nb.backbones as bb
import align_nb.features as ft
import align_nb.toyworld as tw

torch.set_num_threads(1)


def _warned(fn, *a, **k):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        out = fn(*a, **k)
    return out, [str(x.message) for x in w]


# ---------------------------------------------------------------- features
@pytest.fixture(scope='module')
def feat_setup():
    m = bb.load_backbone('resnet10t')
    tf = bb.make_transform(m, input_size=(3, 32, 32), crop_pct=1.0)
    ims = ArrayImages(np.random.default_rng(0).integers(0, 256, (24, 32, 32, 3), dtype=np.uint8))
    fresh = ft.extract_features(m, ims, tf, batch_size=8, progress=False)
    return m, tf, ims, fresh


def _nan_in(p):
    with open(p, 'r+b') as f: f.seek(p.stat().st_size // 2); f.write(np.full(4, np.nan, np.float32).tobytes())

def _zero_tail(p):
    with open(p, 'r+b') as f: f.seek(-4096, 2); f.write(bytes(4096))

def _truncate(p):
    with open(p, 'r+b') as f: f.truncate(p.stat().st_size - 100)

def _garbage(p): p.write_bytes(b'not a numpy file')


@pytest.mark.parametrize('corrupt', [_nan_in, _zero_tail, _truncate, _garbage])
def test_corrupt_feature_cache_is_reported_and_rebuilt(feat_setup, tmp_path, corrupt):
    m, tf, ims, fresh = feat_setup
    a = ft.extract_features(m, ims, tf, batch_size=8, cache_dir=tmp_path, progress=False)
    p = Path(a.filename); del a
    corrupt(p)
    out, msgs = _warned(ft.extract_features, m, ims, tf, batch_size=8, cache_dir=tmp_path, progress=False)
    assert any(str(p) in m_ for m_ in msgs), msgs
    np.testing.assert_array_equal(np.asarray(out), fresh)
    # and the rebuilt entry is a verified hit again (no warning)
    out2, msgs2 = _warned(ft.extract_features, m, ims, tf, batch_size=8, cache_dir=tmp_path, progress=False)
    assert not [x for x in msgs2 if 'feature cache' in x]
    np.testing.assert_array_equal(np.asarray(out2), fresh)


def test_feature_sidecar_without_checksum_is_not_trusted(feat_setup, tmp_path):
    m, tf, ims, fresh = feat_setup
    a = ft.extract_features(m, ims, tf, batch_size=8, cache_dir=tmp_path, progress=False)
    p = Path(a.filename); del a
    side = p.with_name(p.name + '.json'); meta = load_json(side); meta.pop('sha256')
    from align_nb.core import save_json
    save_json(side, meta)
    _nan_in(p)
    out, msgs = _warned(ft.extract_features, m, ims, tf, batch_size=8, cache_dir=tmp_path, progress=False)
    assert any('no checksum' in x for x in msgs)
    np.testing.assert_array_equal(np.asarray(out), fresh)


def test_feature_key_holds_code_and_library_versions(feat_setup, monkeypatch):
    m, tf, ims, _ = feat_setup
    k0 = ft.feature_cache_key(m, tf, None, 'avg', ims)
    parts = ft.feature_cache_parts(m, tf, None, 'avg', ims)
    assert parts['version'] == ft.FEATURES_VERSION and parts['torch'] == torch.__version__ and 'timm' in parts
    monkeypatch.setattr(ft, 'FEATURES_VERSION', ft.FEATURES_VERSION + 1)
    assert ft.feature_cache_key(m, tf, None, 'avg', ims) != k0
    monkeypatch.undo()
    monkeypatch.setattr(torch, '__version__', '0.0.1')
    assert ft.feature_cache_key(m, tf, None, 'avg', ims) != k0


# ---------------------------------------------------------------- backbones
@pytest.fixture(scope='module')
def toy_images():
    rng = np.random.default_rng(0)
    lab = np.repeat([0, 1], 20)
    arr = (np.where(lab[:, None, None, None] == 0, [200, 30, 30], [30, 30, 200]) + rng.integers(0, 40, (40, 32, 32, 3))).astype(np.uint8)
    return ArrayImages(arr, labels={'basic': lab})


def _pretrain(ims, cache):
    return bb.pretrain_backbone('resnet', ims, 'basic', epochs=1, batch_size=16, cache_dir=cache, progress=False)


def _flip_mid(p):
    b = bytearray(p.read_bytes()); b[len(b) // 2] ^= 0xFF; p.write_bytes(bytes(b))


@pytest.mark.parametrize('corrupt', [_flip_mid, _truncate, _garbage])
def test_corrupt_backbone_cache_is_reported_and_rebuilt(toy_images, tmp_path, corrupt):
    p = _pretrain(toy_images, tmp_path)
    meta = load_json(str(p) + '.json')
    fresh = torch.load(p, weights_only=True)
    corrupt(p)
    with pytest.raises(AlignNbError, match=str(p).replace('.', r'\.')):
        bb.load_backbone_file(p)  # a changed weights file is never loaded
    q, msgs = _warned(_pretrain, toy_images, tmp_path)
    assert q == p and any(str(p) in x for x in msgs), msgs
    again = torch.load(p, weights_only=True)
    assert load_json(str(p) + '.json')['weights_hash'] == meta['weights_hash']  # same weights as the fresh run
    assert all(torch.equal(fresh[k], again[k]) for k in fresh)
    bb.load_backbone_file(p)  # verified again


def test_legacy_sidecar_checked_by_weights_hash(toy_images, tmp_path):
    "A sidecar written before checksums (weights_hash only) is still verified, by hashing the loaded weights."
    p = _pretrain(toy_images, tmp_path)
    side = Path(str(p) + '.json'); meta = load_json(side)
    for k in ('file_sha256', 'file_bytes'): meta.pop(k)
    from align_nb.core import save_json
    save_json(side, meta)
    assert bb._weights_problem(p, meta) is None
    sd = torch.load(p, weights_only=True)
    k = next(k for k, v in sd.items() if v.is_floating_point()); sd[k] = sd[k] + 1
    torch.save(sd, p)
    assert 'weights changed' in bb._weights_problem(p, meta)
    with pytest.raises(AlignNbError, match='weights changed'): bb.load_backbone_file(p)


def test_pretrain_key_holds_code_version(toy_images, tmp_path, monkeypatch):
    p1 = _pretrain(toy_images, tmp_path)
    monkeypatch.setattr(bb, 'TOY_PRETRAIN_VERSION', bb.TOY_PRETRAIN_VERSION + 1)
    p2 = _pretrain(toy_images, tmp_path)
    assert p1 != p2 and p1.is_file() and p2.is_file()
    assert load_json(str(p2) + '.json')['key_parts']['train']['version'] == bb.TOY_PRETRAIN_VERSION


# ---------------------------------------------------------------- worlds
SMALL = tw.ToyConfig(n_super=2, n_basic=3, n_sub=2, pool_per_concept=3, shift_per_concept=2, levels_per_concept=3,
                     n_things_train=300, n_things_val=50, n_things_test=30, n_levels_per_kind=15, n_rdm=10, n_calib=300)


def _same(a, b):
    assert a.temperature == b.temperature
    for k in tw._ARRAYS: np.testing.assert_array_equal(a.arrays[k], b.arrays[k], err_msg=k)


@pytest.mark.parametrize('corrupt', [_flip_mid, _truncate, _garbage, lambda p: p.unlink()])
def test_corrupt_world_cache_is_reported_and_rebuilt(tmp_path, corrupt):
    fresh = tw.build_toyworld(SMALL)
    w = tw.make_toyworld(SMALL, cache_dir=tmp_path)
    npz = Path(w.cache_folder) / 'world.npz'
    corrupt(npz)
    with pytest.raises((AlignNbError, FileNotFoundError), match=str(npz).replace('.', r'\.')):
        tw.ToyWorld.load(w.cache_folder)  # the error names the file (no bare BadZipFile)
    w2, msgs = _warned(tw.make_toyworld, SMALL, cache_dir=tmp_path)
    assert not w2.cache_hit and any(str(w.cache_folder) in x for x in msgs), msgs
    _same(w2, fresh)
    w3 = tw.make_toyworld(SMALL, cache_dir=tmp_path)
    assert w3.cache_hit; _same(w3, fresh)


def test_world_key_holds_generator_version(monkeypatch):
    k0 = tw.config_hash(SMALL)
    monkeypatch.setattr(tw, 'TOYWORLD_VERSION', tw.TOYWORLD_VERSION + '-next')
    assert tw.config_hash(SMALL) != k0
    monkeypatch.undo()
    monkeypatch.setattr(np, '__version__', '0.0.1')
    assert tw.config_hash(SMALL) != k0


# ---- shared caches under parallel jobs: one process computes an entry, the others wait and read it ----







"""Tests for align_nb.features: content-keyed cache (every part misses, only that part), hit == fresh, memmap, atomicity, errors."""
import os
os.environ['HF_HUB_OFFLINE'] = '1'
import json
import numpy as np
import pytest
import torch
from PIL import Image

from align_nb.core import AlignNbError
from align_nb.data import ArrayImages, FileImages
from align_nb.backbones import load_backbone, make_transform, pooled_features
from align_nb.features import extract_features, feature_cache_parts, feature_cache_key, FeatureStore

from helpers import resnet_and_images
torch.set_num_threads(1)
N = 20


@pytest.fixture(scope='module')
def setup(): return resnet_and_images(N)


def _files(cache):
    d = cache / 'features'
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def test_cache_hit_equals_fresh_forward_pass(setup, tmp_path):
    m, tf, ims = setup
    fresh = extract_features(m, ims, tf, batch_size=7, progress=False)
    assert type(fresh) is np.ndarray and fresh.shape == (N, 512) and fresh.dtype == np.float32
    with torch.no_grad():  # a bare forward pass, image by image through the PIL transform
        ref = torch.cat([m(tf(ims[i])[None]) for i in range(N)]).numpy()
    np.testing.assert_allclose(fresh, ref, rtol=1e-5, atol=1e-5)
    first = extract_features(m, ims, tf, batch_size=7, cache_dir=tmp_path, progress=False)
    hit = extract_features(m, ims, tf, batch_size=7, cache_dir=tmp_path, progress=False)
    assert np.array_equal(first, fresh) and np.array_equal(hit, fresh)
    assert isinstance(hit, np.memmap) and not hit.flags.writeable
    files = _files(tmp_path)
    assert len(files) == 2 and files[0].endswith('.npy') and files[1].endswith('.npy.json')
    p = tmp_path / 'features' / files[0]
    assert os.path.samefile(hit.filename, p)
    np.testing.assert_array_equal(np.load(p, mmap_mode='r'), fresh)  # a plain .npy, reopened
    meta = json.loads((tmp_path / 'features' / files[1]).read_text())
    assert meta['key'] == feature_cache_key(m, tf, None, 'avg', ims) and meta['shape'] == [N, 512]


def test_each_key_part_misses_alone(setup, tmp_path):
    m, tf, ims = setup
    base = feature_cache_parts(m, tf, None, 'avg', ims)
    m2 = load_backbone('resnet10t')
    m2.load_state_dict(m.state_dict())
    with torch.no_grad(): next(m2.parameters()).view(-1)[0] += 1e-3
    ims2 = ArrayImages(ims.arr.copy()); ims2.arr[5, 3, 3, 0] ^= 1  # one pixel
    tf2 = make_transform(m, input_size=(3, 32, 32), crop_pct=1.0, interpolation='bilinear')
    variants = {'weights': (m2, tf, None, 'avg', ims), 'transform': (m, tf2, None, 'avg', ims),
                'layer': (m, tf, 'layer3', 'avg', ims), 'pooling': (m, tf, 'layer3', 'flatten', ims),
                'images': (m, tf, None, 'avg', ims2), 'dtype': (m, tf, None, 'avg', ims, 'float16')}
    ref_layer = feature_cache_parts(m, tf, 'layer3', 'avg', ims)
    for what, args in variants.items():
        parts = feature_cache_parts(*args)
        against = ref_layer if what == 'pooling' else base
        changed = {k for k in parts if parts[k] != against[k]}
        expect = {'transform': {'transform'}, 'weights': {'weights'}, 'layer': {'layer'}, 'pooling': {'pooling'},
                  'images': {'images'}, 'dtype': {'dtype'}}[what]
        assert changed == expect, (what, changed)
    # and each really misses the cache: a new file per change, the original entry is untouched
    extract_features(m, ims, tf, batch_size=8, cache_dir=tmp_path, progress=False)
    n0 = len(_files(tmp_path))
    for i, (what, args) in enumerate(variants.items()):
        mm, t, layer, pooling, im = args[:5]
        dtype = args[5] if len(args) > 5 else 'float32'
        out = extract_features(mm, im, t, batch_size=8, layer=layer, pooling=pooling, dtype=dtype, cache_dir=tmp_path, progress=False)
        assert len(_files(tmp_path)) == n0 + 2 * (i + 1), what
        assert out.dtype == np.dtype(dtype)
    extract_features(m, ims, tf, batch_size=8, cache_dir=tmp_path, progress=False)  # hit: no new file
    assert len(_files(tmp_path)) == n0 + 2 * len(variants)


def test_changed_weights_give_changed_features(setup, tmp_path):
    m, tf, ims = setup
    a = np.array(extract_features(m, ims, tf, cache_dir=tmp_path, progress=False))
    m2 = load_backbone('resnet10t')  # a different random init
    b = np.array(extract_features(m2, ims, tf, cache_dir=tmp_path, progress=False))
    assert not np.allclose(a, b)  # not served the stale entry


def test_error_mid_extraction_leaves_no_cache_file(setup, tmp_path):
    m, tf, ims = setup
    calls = {'n': 0}
    def flaky(img):
        calls['n'] += 1
        if calls['n'] == 15: raise RuntimeError('disk gone')
        return tf(img)
    with pytest.raises(AlignNbError, match='image 14'):
        extract_features(m, ims, flaky, batch_size=4, cache_dir=tmp_path, progress=False)
    assert _files(tmp_path) == []  # no partial .npy, no temp file, no sidecar


def test_nan_features_are_reported_with_image_index(setup, tmp_path):
    m, tf, ims = setup
    class NanAt(torch.nn.Module):
        def __init__(self): super().__init__(); self.lin = torch.nn.Linear(3, 4)
        def forward_features(self, x): return x.mean((2, 3))
        def forward_head(self, x, pre_logits=False):
            y = self.lin(x)
            y[x[:, 0] > 1e3] = float('nan')
            return y
    net = NanAt()
    def tf_bad(img):
        t = tf(img)
        return t + 1e4 if img.getpixel((0, 0)) == ims[13].getpixel((0, 0)) else t
    with pytest.raises(AlignNbError, match='image 13'):
        extract_features(net, ims, tf_bad, batch_size=8, cache_dir=tmp_path, progress=False)
    assert _files(tmp_path) == []


def test_empty_and_unreadable_images(setup, tmp_path):
    m, tf, ims = setup
    class Empty(ArrayImages):
        def __len__(self): return 0
    with pytest.raises(AlignNbError, match='empty'):
        extract_features(m, Empty(ims.arr[:1]), tf, progress=False)
    paths = []
    for i in range(3):
        p = tmp_path / f'im{i}.png'; Image.fromarray(ims.arr[i]).save(p); paths.append(p)
    paths[2].write_bytes(b'garbage')
    fi = FileImages(paths)
    with pytest.raises(AlignNbError, match=r'image 2 .*im2\.png'):
        extract_features(m, fi, tf, batch_size=2, cache_dir=tmp_path / 'c', progress=False)
    assert _files(tmp_path / 'c') == []
    ok = FileImages(paths[:2])  # PNG files give the same features as the array path
    np.testing.assert_array_equal(extract_features(m, ok, tf, progress=False), extract_features(m, ArrayImages(ims.arr[:2]), tf, progress=False))


def test_layer_features_match_pooled_features(setup):
    m, tf, ims = setup
    out = extract_features(m, ims, tf, layer='layer2', batch_size=8, progress=False)
    x = tf.batch_from_uint8(ims.arr)
    with torch.no_grad(): ref = pooled_features(m, x, 'layer2').numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    assert out.shape == (N, 128)
    assert m.training is False


def test_training_mode_restored(setup):
    m, tf, ims = setup
    m.train()
    extract_features(m, ims, tf, batch_size=8, progress=False)
    assert m.training
    m.eval()


# --- the memory-mapped feature store of big pools ---

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

"""Tests for align_nb.backbones: loading from local files (strict), errors, transforms, pooled features, toy pretraining cache."""
import os
os.environ['HF_HUB_OFFLINE'] = '1'
import json
import numpy as np
import pytest
import torch

from align_nb.core import AlignNbError, load_json
from align_nb.data import ArrayImages
from align_nb.backbones import (load_backbone, save_backbone, load_backbone_file, data_config, make_transform,
                                pooled_features, pool_output, pretrain_backbone, TOY_BACKBONES, images_to_tensor)

torch.set_num_threads(1)
X = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def _perturb(model, seed=1):
    "Move every parameter/buffer away from its init so a fresh random model cannot match by chance."
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point(): t.add_(0.01 * torch.randn(t.shape, generator=g))
    return model


def test_load_backbone_file_reproduces_saved_outputs(tmp_path):
    m = _perturb(load_backbone('resnet10t', num_classes=5))
    p = save_backbone(m, tmp_path / 'w.pth')
    assert (tmp_path / 'w.pth.json').is_file()
    meta = load_json(tmp_path / 'w.pth.json')
    assert meta['name'] == 'resnet10t' and meta['num_classes'] == 5
    with torch.no_grad():
        ref, ref_pre = m(X), pooled_features(m, X)
        m2 = load_backbone_file(p)
        assert torch.equal(m2(X), ref)
        m3 = load_backbone('resnet10t', weights=p, num_classes=5)  # same path, name given by hand
        assert torch.equal(m3(X), ref)
        m4 = load_backbone('resnet10t', weights=p)  # num_classes=0: head dropped, the rest loaded
        assert torch.equal(m4(X), ref_pre)
    assert not m2.training


def test_load_backbone_plain_state_dict_without_sidecar(tmp_path):
    m = _perturb(load_backbone('resnet10t', num_classes=4))
    torch.save(m.state_dict(), tmp_path / 'plain.pth')
    with torch.no_grad():
        m2 = load_backbone('resnet10t', weights=tmp_path / 'plain.pth', num_classes=4)
        assert torch.equal(m2(X), m(X))  # the 4-class head is kept, not silently re-initialised


def test_load_backbone_vit_kwargs_from_sidecar(tmp_path):
    m = _perturb(load_backbone('vit_tiny_patch16_224', img_size=32, patch_size=4, depth=1))
    p = save_backbone(m, tmp_path / 'vit.pth')
    m2 = load_backbone_file(p)
    assert data_config(m2)['input_size'] == (3, 32, 32)
    with torch.no_grad(): assert torch.equal(m2(X), m(X))


def test_strict_key_errors_name_keys(tmp_path):
    m = load_backbone('resnet10t', num_classes=3)
    sd = m.state_dict()
    missing = {k: v for k, v in sd.items() if k != 'layer1.0.conv1.weight'}
    torch.save(missing, tmp_path / 'missing.pth')
    with pytest.raises(AlignNbError, match=r'layer1\.0\.conv1\.weight'):
        load_backbone('resnet10t', weights=tmp_path / 'missing.pth', num_classes=3)
    extra = dict(sd, **{'bogus.weight': torch.zeros(2)})
    torch.save(extra, tmp_path / 'extra.pth')
    with pytest.raises(AlignNbError, match=r'bogus\.weight'):
        load_backbone('resnet10t', weights=tmp_path / 'extra.pth', num_classes=3)
    # non-strict path (head dropped because class counts differ) still catches other missing keys
    with pytest.raises(AlignNbError, match=r'layer1\.0\.conv1\.weight'):
        load_backbone('resnet10t', weights=tmp_path / 'missing.pth', num_classes=0)
    # wrong architecture
    save_backbone(m, tmp_path / 'r10.pth')
    with pytest.raises(AlignNbError, match='weights do not fit'):
        load_backbone('resnet14t', weights=tmp_path / 'r10.pth', num_classes=3)


def test_unknown_name_and_missing_or_bad_file(tmp_path):
    with pytest.raises(AlignNbError, match='resnet10t'):
        load_backbone('resnet10')
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_backbone('resnet10t', weights=tmp_path / 'nope.pth')
    (tmp_path / 'junk.pth').write_bytes(b'not a checkpoint at all')
    with pytest.raises(AlignNbError, match='junk.pth.*cannot read'):
        load_backbone('resnet10t', weights=tmp_path / 'junk.pth')
    torch.save(load_backbone('resnet10t').state_dict(), tmp_path / 'nosidecar.pth')
    with pytest.raises(FileNotFoundError, match='sidecar'):
        load_backbone_file(tmp_path / 'nosidecar.pth')


def test_transform_describe_and_fast_path_equal_pil():
    from PIL import Image
    m = load_backbone('resnet10t')
    tf = make_transform(m, input_size=(3, 32, 32), crop_pct=1.0)
    d = tf.describe()
    json.dumps(d)
    assert d['input_size'] == [3, 32, 32] and d['crop_pct'] == 1.0 and d['mean'] == [0.485, 0.456, 0.406]
    arr = np.random.default_rng(1).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    fast = tf.batch_from_uint8(arr)
    slow = torch.stack([tf(Image.fromarray(a)) for a in arr])
    assert torch.equal(fast, slow)
    # uint8 value 0 maps to -mean/std (hand-computed for the red channel)
    assert torch.allclose(tf.batch_from_uint8(np.zeros((1, 32, 32, 3), np.uint8))[0, 0, 0, 0], torch.tensor(-0.485 / 0.229))
    assert make_transform(m, input_size=(3, 32, 32), interpolation='bilinear').describe() != d


@pytest.mark.parametrize('fam,dim', [('resnet', 512), ('convnext', 320), ('vit', 192), ('mobilenet', 1024), ('regnet', 368)])
def test_pooled_features_shapes_per_family(fam, dim):
    a = TOY_BACKBONES[fam]
    m = load_backbone(a['name'], **a['model_kwargs'])
    with torch.no_grad():
        assert pooled_features(m, X).shape == (3, dim)


def test_pooled_features_layer_and_pooling():
    m = load_backbone('resnet10t')
    vit = load_backbone('vit_tiny_patch16_224', img_size=32, patch_size=4, depth=2)
    with torch.no_grad():
        a = pooled_features(m, X, 'layer3')
        full = {}
        h = m.layer3.register_forward_hook(lambda mod, i, o: full.__setitem__('o', o))
        m(X); h.remove()
        assert a.shape == (3, 256) and torch.allclose(a, full['o'].mean((2, 3)))
        assert pooled_features(m, X, 'layer3', 'flatten').shape == (3, 256 * 2 * 2)
        tok = {}
        h = vit.blocks[1].register_forward_hook(lambda mod, i, o: tok.__setitem__('o', o))
        vit(X); h.remove()
        assert torch.equal(pooled_features(vit, X, 'blocks.1', 'cls'), tok['o'][:, 0])
        assert torch.allclose(pooled_features(vit, X, 'blocks.1', 'avg'), tok['o'][:, 1:].mean(1))  # cls token left out
    with pytest.raises(AlignNbError, match='layer3'):
        pooled_features(m, X, 'layer33')
    with pytest.raises(AlignNbError, match='pooling'):
        pooled_features(m, X, 'layer3', 'max')


def test_pool_output_hand_computed():
    x = torch.arange(8.).reshape(1, 2, 2, 2)  # (B, C, H, W)
    assert pool_output(x, 'avg').tolist() == [[1.5, 5.5]]
    t = torch.tensor([[[1., 2.], [3., 4.], [5., 6.]]])  # (B, N=3, C=2)
    assert pool_output(t, 'cls').tolist() == [[1., 2.]]
    assert pool_output(t, 'avg', n_prefix=1).tolist() == [[4., 5.]]
    assert pool_output(t, 'avg').tolist() == [[3., 4.]]


def _tiny_images(n=30, seed=0):
    rng = np.random.default_rng(seed)
    lab = np.arange(n) % 3
    cols = np.array([[220, 20, 20], [20, 220, 20], [20, 20, 220]], np.uint8)
    arr = np.clip(cols[lab][:, None, None, :].astype(int) + rng.integers(-20, 20, (n, 32, 32, 3)), 0, 255).astype(np.uint8)
    return ArrayImages(arr, labels={'basic': lab})


def test_pretrain_cache_hit_does_not_train(tmp_path, monkeypatch):
    ims = _tiny_images()
    p = pretrain_backbone('resnet', ims, 'basic', epochs=1, batch_size=16, cache_dir=tmp_path, progress=False)
    assert p.parent == tmp_path / 'backbones' and p.suffix == '.pth'
    meta = load_json(str(p) + '.json')
    assert meta['n_heldout'] == 3 and meta['n_train'] == 27 and meta['classes'] == [0, 1, 2]
    assert meta['images_hash'] == ims.content_hash() and 0 <= meta['heldout_acc'] <= 1
    mtime = p.stat().st_mtime_ns
    import timm
    def boom(*a, **k): raise AssertionError('trained again')
    monkeypatch.setattr(timm, 'create_model', boom)
    assert pretrain_backbone('resnet', ims, 'basic', epochs=1, batch_size=16, cache_dir=tmp_path, progress=False) == p
    assert p.stat().st_mtime_ns == mtime
    monkeypatch.undo()
    # a different seed or different labels is another cache entry
    lab2 = ims.labels['basic'].copy(); lab2[0] = 1
    p2 = pretrain_backbone('resnet', ims, lab2, epochs=1, batch_size=16, cache_dir=tmp_path, progress=False)
    assert p2 != p
    m = load_backbone_file(p)
    assert m.num_classes == 3 and data_config(m)['input_size'] == (3, 32, 32)
    # the pretraining preprocessing (crop_pct=1.0) comes back with the file, also when input_size is given
    assert make_transform(m, input_size=(3, 32, 32)).describe()['crop_pct'] == 1.0
    assert meta['train_config']['lr'] == 2e-3 and meta['train_config']['batch_size'] == 16


def test_pretrain_deterministic_for_seed(tmp_path):
    ims = _tiny_images(20)
    a = pretrain_backbone('mobilenet', ims, 'basic', epochs=1, batch_size=8, cache_dir=tmp_path / 'a', progress=False)
    b = pretrain_backbone('mobilenet', ims, 'basic', epochs=1, batch_size=8, cache_dir=tmp_path / 'b', progress=False)
    sa, sb = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_pretrain_bad_labels():
    ims = _tiny_images(12)
    with pytest.raises(AlignNbError, match='labels'):
        pretrain_backbone('resnet', ims, np.zeros(5), epochs=1, progress=False)
    with pytest.raises(AlignNbError, match='no label'):
        pretrain_backbone('resnet', ims, 'superordinate', epochs=1, progress=False)

"The lazy triplet reader (`release.LazyTripletImages`) through DataLoader worker processes (toy and real JPEG images), and distillation reading it with workers."
import os
os.environ['HF_HUB_OFFLINE'] = '1'
import pickle
import numpy as np
import pytest
from align_nb.release import ReleaseTriplets, LazyTripletImages
from align_nb.features import FeatureStore
from align_nb.triplets import AlignetTriplets, generate_triplets
from helpers import clustered_pool as _pool

pytestmark = pytest.mark.e2e

def _check_loader(images, path, transform, n_rows):
    import torch
    ds = LazyTripletImages(images, path, transform)
    assert len(pickle.dumps(ds.triplets)) < 1000
    rows = [list(range(i, min(i + 8, n_rows))) for i in range(0, n_rows, 8)][::-1]  # a batch_sampler, as distill uses
    dl = torch.utils.data.DataLoader(ds, batch_sampler=rows, num_workers=2)
    lt = ReleaseTriplets(path); seen = 0
    for b, (x, s) in zip(rows, dl):
        assert x.shape[:2] == (len(b), 3)
        np.testing.assert_array_equal(s.numpy(), np.asarray(lt.similarities[b]))
        j = lt.indices[b[-1], 2]
        torch.testing.assert_close(x[-1, 2], transform(images[int(j)]))  # position 2 of the last row is that pool image
        seen += len(b)
    assert seen == n_rows

def test_lazy_triplet_images_with_dataloader_workers_toy(tmp_path):
    from align_nb.data import ArrayImages
    from align_nb.distill import student_transform
    ims = ArrayImages(np.random.default_rng(0).integers(0, 256, (30, 16, 16, 3), dtype=np.uint8))
    f, g = _pool(n=30, k=3, dim=4)
    p = generate_triplets(f, 40, 'cluster_border', path=tmp_path / 't.npz', k=g, ids=ims.ids, chunk=16, progress=False)
    _check_loader(ims, p, student_transform(None, None, '01'), 40)

def test_lazy_triplet_images_real_jpegs_with_workers(tmp_path, shared_data):
    from align_nb.data import image_folder
    from align_nb.distill import student_transform
    root = shared_data / 'imagenet_sample' / 'train'
    if not root.is_dir(): pytest.skip(f'{root} not found')
    ims = image_folder(root)
    f = np.random.default_rng(0).normal(0, 1, (len(ims), 8)).astype(np.float32)
    st = FeatureStore.write(tmp_path / 'pool.npy', f, progress=False)
    p = generate_triplets(st, 48, 'class_border', path=tmp_path / 'imagenet.npz', labels=ims.labels['class'], ids=ims.ids, chunk=20, progress=False)
    t = AlignetTriplets.load(p, strict=True)
    assert t.filenames[0, 0].endswith('.JPEG') and t.resolve_indices(ims.ids).tolist() == t.indices.tolist()
    _check_loader(ims, p, student_transform(None, 32, '01'), 48)

def test_distill_trains_from_lazy_triplet_memmaps_with_workers(tmp_path):
    from align_nb.data import ArrayImages
    from align_nb.distill import distill, DistillConfig
    ims = ArrayImages(np.random.default_rng(0).integers(0, 256, (30, 16, 16, 3), dtype=np.uint8))
    f, g = _pool(n=30, k=3, dim=4)
    p = generate_triplets(f, 40, 'cluster_border', path=tmp_path / 't.npz', k=g, ids=ims.ids, chunk=16, progress=False)
    lt = ReleaseTriplets(p)
    cfg = DistillConfig.toy(steps=2, batch_size=8, warmup=0, head_dim=8, eval_every=2, checkpoint_every=2, num_workers=2)
    met = distill('resnet10t', ims, lt.indices[:32], lt.similarities[:32], lt.indices[32:], lt.similarities[32:], cfg, tmp_path / 'run', progress=False)
    assert met['complete'] and met['steps'] == 2 and met['n_train'] == 32 and np.isfinite(met['val_loss'])

"""The torchrun launcher (2 gloo processes on CPU) and feature extraction sharded over ranks into one memory-mapped store (`features.extract_features(path=...)`)."""
import os
os.environ['HF_HUB_OFFLINE'] = '1'
import numpy as np
import pytest
import torch

from align_nb.core import AlignNbError
from align_nb.launch import launch, torchrun_command, check_launch_options
from align_nb.features import extract_features, shard_status

dist_ok = torch.distributed.is_available() and torch.distributed.is_gloo_available()
needs_gloo = pytest.mark.skipif(not dist_ok, reason='torch.distributed with gloo is not available')



def test_sharded_store_single_process_resume_and_checks(tmp_path):
    import timm
    from align_nb.data import ArrayImages
    torch.set_num_threads(1); torch.manual_seed(0)
    net = timm.create_model('resnet10t', num_classes=0)
    ims = ArrayImages(np.random.default_rng(1).integers(0, 256, (9, 16, 16, 3), dtype=np.uint8))
    p = tmp_path / 's.npy'
    with pytest.raises(AlignNbError, match='multiple of batch_size'):
        extract_features(net, ims, batch_size=2, path=p, shard_size=3, rank=0, world=1)
    with pytest.raises(AlignNbError, match='does not exist; rank 0 makes the store'):  # only rank 0 creates it
        extract_features(net, ims, batch_size=2, path=p, rank=1, world=2)
    for r in (0, 1, 2):  # 3 "ranks" one after the other (no process group): the last completes the store
        st = {}; f = extract_features(net, ims, batch_size=2, path=p, shard_size=4, rank=r, world=3, stats=st)
    assert st['computed'] == [2] and np.array_equal(f, extract_features(net, ims, batch_size=2, progress=False))
    assert shard_status(p)['n_shards'] == 3
    with pytest.raises(AlignNbError, match='other inputs'):
        extract_features(net, ims, batch_size=2, path=p, rank=0, world=1, dtype='float16')

def test_launch_options_are_checked():
    with pytest.raises(AlignNbError, match='nproc_per_node must be an integer'): check_launch_options('2')
    with pytest.raises(AlignNbError, match='rdzv_backend must be one of'): check_launch_options(2, rdzv_backend='tcp')
    with pytest.raises(AlignNbError, match="'host:port'"): check_launch_options(2, nnodes=2, rdzv_endpoint='node0')
    c = torchrun_command(['w.py'], 4, nnodes=3, node_rank=2, rdzv_backend='static', rdzv_endpoint='10.0.0.1:29400', rdzv_id='x', python='py')
    assert '--rdzv_backend=static' in c and '--node_rank=2' in c and '--nnodes=3' in c and '--standalone' not in c
    with pytest.raises(AlignNbError, match='JSON-able'): launch('align_nb.launch:_echo', {'x': object()}, '/tmp/unused')

"""The torchrun launcher (2 gloo processes on CPU) and feature extraction sharded over ranks into one memory-mapped store."""
import os
os.environ['HF_HUB_OFFLINE'] = '1'
import numpy as np
import pytest
import torch

from align_nb.core import AlignNbError, is_complete, load_json
from align_nb.launch import rank_logs, launch
from align_nb.features import shard_status
from helpers import launch_inputs as _inputs, launch_reference as _reference

pytestmark = pytest.mark.e2e

dist_ok = torch.distributed.is_available() and torch.distributed.is_gloo_available()
needs_gloo = pytest.mark.skipif(not dist_ok, reason='torch.distributed with gloo is not available')






@needs_gloo
def test_two_ranks_fill_one_store_equal_to_one_process_and_resume_skips_finished_shards(tmp_path):
    arr = _inputs(tmp_path)
    kw = {'model': str(tmp_path / 'net.pth'), 'images': {'npz': str(tmp_path / 'images.npz')}, 'path': str(tmp_path / 'store.npy'),
          'batch_size': 4, 'shard_size': 8}
    m = launch('align_nb.launch:features_task', kw, tmp_path / 'run', name='features', nproc_per_node=2)
    assert m['world_size'] == 2 and sorted(m['ranks']) == ['0', '1'] and m['skipped'] is False
    # deterministic row ranges: 22 rows in shards of 8 -> shards 0, 2 on rank 0 and shard 1 on rank 1
    assert m['ranks']['0']['result']['computed'] == [0, 2] and m['ranks']['1']['result']['computed'] == [1]
    for r in (0, 1):  # each rank's log is in the run folder
        assert f'=== rank {r} of 2' in rank_logs(tmp_path / 'run' / 'launch' / 'features')[r]['log'].read_text()
    ref = _reference(tmp_path, arr, 4)
    store = np.load(tmp_path / 'store.npy', mmap_mode='r')
    assert store.shape == ref.shape and np.array_equal(store, ref)  # bit-identical to single-process extraction
    st = shard_status(tmp_path / 'store.npy')
    assert st['complete'] and st['done'] == [0, 1, 2] and st['shard_size'] == 8
    # the launched step is recorded complete: a second launch returns the metrics without running
    again = launch('align_nb.launch:features_task', kw, tmp_path / 'run', name='features', nproc_per_node=2)
    assert again['skipped'] is True and again['ranks'] == m['ranks']
    # an interrupted extraction: the sidecar and shard 1 gone, shard 0's rows damaged -> only shards 0 and 1 are redone
    (tmp_path / 'store.npy.json').unlink(); (tmp_path / 'store.npy.shards' / 'shard_00001.json').unlink()
    mm = np.load(tmp_path / 'store.npy', mmap_mode='r+'); mm[0] = 0; mm.flush(); del mm
    m2 = launch('align_nb.launch:features_task', kw, tmp_path / 'run', name='features', nproc_per_node=2, force=True)
    assert m2['ranks']['0']['result']['computed'] == [0] and m2['ranks']['0']['result']['skipped'] == [2]
    assert m2['ranks']['1']['result']['computed'] == [1]
    assert np.array_equal(np.load(tmp_path / 'store.npy'), ref)


@needs_gloo
def test_a_failing_rank_is_named_with_its_log_tail(tmp_path):
    with pytest.raises(AlignNbError) as e:
        launch('align_nb.launch:_echo', {'fail_on': 1}, tmp_path, name='echo', nproc_per_node=2)
    msg = str(e.value)
    f = tmp_path / 'launch' / 'echo'
    logs = rank_logs(f)
    assert 'rank 1 of 2 failed' in msg and 'example failure' in msg and str(logs[1]['log']) in msg and 'Traceback' in msg
    assert logs[1]['error'] is not None and logs[0]['error'] is None and not is_complete(f)  # torchrun's error file (@record) of rank 1 only
    assert 'example failure' in logs[1]['error'].read_text()






@needs_gloo
def test_two_nodes_on_this_machine_through_the_rendezvous_and_command_sh(tmp_path):
    "Node 0 runs `launch` (nnodes=2, c10d rendezvous on loopback); node 1 runs the command.sh it writes; 2 ranks in all."
    import socket, subprocess, threading
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    got = {}
    def node0():
        try: got['m'] = launch('align_nb.launch:_echo', {'x': 5}, tmp_path, name='two_nodes', nproc_per_node=1, nnodes=2,
                               rdzv_endpoint=f'127.0.0.1:{port}', rdzv_id='t2n', env={'GLOO_SOCKET_IFNAME': 'lo'}, timeout=240)
        except Exception as e: got['e'] = e
    th = threading.Thread(target=node0); th.start()
    sh = tmp_path / 'launch' / 'two_nodes' / 'command.sh'
    for _ in range(600):
        if sh.is_file(): break
        th.join(0.1)
    assert sh.is_file() and '--node_rank=${NODE_RANK' in sh.read_text() and f'--rdzv_endpoint=127.0.0.1:{port}' in sh.read_text()
    p = subprocess.run(['bash', str(sh)], env={**os.environ, 'NODE_RANK': '1', 'GLOO_SOCKET_IFNAME': 'lo'}, capture_output=True, text=True, timeout=240)
    th.join(240)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert 'e' not in got, got.get('e')
    m = got['m']
    assert m['world_size'] == 2 and m['nnodes'] == 2
    ys = sorted(load_json(tmp_path / 'launch' / 'two_nodes' / f'rank{r}.result.json')['result']['y'] for r in (0, 1))
    assert ys == [5, 6]  # both ranks ran, one on each "node", and wrote into the shared run folder

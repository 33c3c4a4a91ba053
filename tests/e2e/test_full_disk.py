"""Full disk and other write failures: one clear error naming the file and 'no space left', no temp
files left behind, nothing marked complete, and the runner records the failure even when it cannot write its files.
The tmpfs tests mount a small tmpfs (needs root; skipped otherwise); the monkeypatch tests run everywhere."""
import errno, os, subprocess, sys, textwrap, uuid
from pathlib import Path
import numpy as np
import pytest

import align_nb.core as core
from align_nb.core import AlignNbError, is_complete

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


@pytest.fixture
def small_fs(tmp_path):
    "A 16 MB tmpfs at tmp_path/fs, unmounted after the test; skips when mounting is not permitted."
    d = tmp_path / 'fs'; d.mkdir()
    r = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', str(d)], capture_output=True, text=True)
    if r.returncode: pytest.skip(f'cannot mount a tmpfs here ({r.stderr.strip() or r.returncode})')
    try: yield d
    finally: subprocess.run(['umount', '-l', str(d)], capture_output=True)


def _fill(d, leave:int):
    "Fill the file system of `d` until only about `leave` bytes are free."
    import shutil
    free = shutil.disk_usage(d).free
    with open(d / 'filler.bin', 'wb') as f:
        try: f.write(b'\0' * max(0, free - leave))
        except OSError: pass
    return shutil.disk_usage(d).free


def _hidden(d): return sorted(str(p.relative_to(d)) for p in Path(d).rglob('.*') if p.is_file())


def _env():
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE='1', OMP_NUM_THREADS='1')
    return env


FEAT_SCRIPT = textwrap.dedent("""
    import sys, numpy as np, torch
    torch.set_num_threads(1)
    import align_nb.core as core
    if sys.argv[2] == 'no-precheck': core.ensure_free_space = lambda *a, **k: None  # only the block reservation can see the full disk
    from align_nb.backbones import load_backbone, make_transform
    from align_nb.data import ArrayImages
    from align_nb.features import extract_features
    m = load_backbone('resnet10t'); tf = make_transform(m, input_size=(3, 32, 32), crop_pct=1.0)
    ims = ArrayImages(np.random.default_rng(0).integers(0, 256, (400, 32, 32, 3), dtype=np.uint8))
    extract_features(m, ims, tf, batch_size=100, cache_dir=sys.argv[1], progress=False)  # 400 x 512 float32 = 800 KB
""")


@pytest.mark.parametrize('mode', ['precheck', 'no-precheck'])
def test_feature_cache_on_a_full_disk_is_a_clear_error_not_a_bus_error(small_fs, mode):
    cache = small_fs / 'cache'; (cache / 'features').mkdir(parents=True)
    _fill(small_fs, 300_000)
    r = subprocess.run([sys.executable, '-c', FEAT_SCRIPT, str(cache), mode], capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])  # a Python error (a bus error is -7 / 135)
    last = r.stderr.strip().splitlines()[-1]
    assert 'No space left' in last or 'no space left' in last, last
    assert str(cache / 'features') in last, last
    assert list((cache / 'features').iterdir()) == []  # no temp file, no .npy, no sidecar


def test_checkpoint_style_torch_save_on_a_full_disk(small_fs):
    "torch.save hides ENOSPC in its own error ('unexpected pos ...'): atomic_path reports the full disk and the file."
    import timm, torch
    from align_nb.backbones import save_backbone
    m = timm.create_model('resnet10t', num_classes=0)  # ~20 MB of weights on a 16 MB file system
    (small_fs / 'w').mkdir()
    with pytest.raises(OSError, match='no space left on device while writing .*x.pth'):
        save_backbone(m, small_fs / 'w' / 'x.pth', name='resnet10t')
    assert list((small_fs / 'w').iterdir()) == []  # no temp file, no sidecar


def test_runner_on_a_full_disk_records_the_failure_on_stderr(small_fs, capfd):
    from align_nb.runner import Job, demo_notebook, run_jobs
    nb = demo_notebook(ROOT / 'tests' / f'.sec2_demo_{uuid.uuid4().hex[:8]}.ipynb')  # the notebook itself is not on the full disk
    try:
        runs = small_fs / 'runs'; (runs / 'a').mkdir(parents=True)
        _fill(small_fs, 0)
        st = run_jobs([Job('a', str(nb), runs / 'a', {'x': 1}), Job('b', str(nb), runs / 'b', {'x': 2}, depends=['a'])],
                      status_file=runs / 'status.csv', verbose=True)
    finally: nb.unlink()
    assert list(st.status) == ['failed', 'blocked']
    assert 'no space left on device' in st.error[0].lower() and 'FAILED.json not written' in st.error[0]
    err = capfd.readouterr().err
    assert 'FAILED.json could not be written' in err and 'cannot write the status file' in err
    assert err.count('Traceback') == 0
    a = runs / 'a'
    assert not is_complete(a) and not (a / 'notebook.failed.ipynb').exists() and not (a / 'notebook.ipynb').exists()
    assert _hidden(runs) == []  # no temp files, no lock left




def test_free_space_checked_before_large_writes(tmp_path, monkeypatch):
    "Where the size is known (feature memmaps, streamed triplet files) a full disk is reported before anything is written."
    import shutil
    from align_nb.features import FeatureStore
    from align_nb.triplets import write_npz_streaming
    real = shutil.disk_usage
    monkeypatch.setattr(core.shutil, 'disk_usage', lambda p: real(p)._replace(free=1000))
    with pytest.raises(OSError, match=r'no space left on device while writing .*t\.npz: needs'):
        write_npz_streaming(tmp_path / 't.npz', {'indices': (np.int64, (100, 3), [np.zeros((100, 3), np.int64)])})
    with pytest.raises(OSError, match=r'no space left on device while writing .*f\.npy'):
        FeatureStore.write(tmp_path / 'f.npy', np.zeros((100, 8), np.float32), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_translates_enospc_and_leaves_nothing(tmp_path):
    def write():
        with core.atomic_path(tmp_path / 'x.bin') as t:
            Path(t).write_bytes(b'abc'); raise OSError(errno.ENOSPC, 'No space left on device')
    with pytest.raises(OSError, match=r'no space left on device while writing .*x\.bin'): write()
    def bad_input():  # other errors pass through unchanged
        with core.atomic_path(tmp_path / 'y.bin') as t: raise AlignNbError('bad row 3')
    with pytest.raises(AlignNbError, match='bad row 3'): bad_input()
    assert list(tmp_path.iterdir()) == []

"Tests of align_nb.realdata.download against a loopback HTTP server with Range support (no other network)."
import os, hashlib, threading
os.environ['HF_HUB_OFFLINE'] = '1'
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
import pytest
from align_nb.core import AlignNbError, shared_data_dir
import align_nb.realdata as rd

DATA = shared_data_dir()
SRC = 'cifar_resnet/resnet20-12fca82f.th'  # ~1.1 MB real public file

class RangeHandler(BaseHTTPRequestHandler):
    "Serve files under `root` (read-only); honour `Range: bytes=N-` with 206 unless `ignore_range`; log requests."
    root: Path = None
    log: list = []
    ignore_range = False
    def do_GET(self):
        p = (self.root / self.path.lstrip('/')).resolve()
        type(self).log.append((self.path, self.headers.get('Range')))
        if not p.is_file() or self.root.resolve() not in p.parents:
            self.send_error(404); return
        data = p.read_bytes()
        rng = self.headers.get('Range')
        if rng and not self.ignore_range:
            start = int(rng.split('=')[1].split('-')[0])
            if start >= len(data):
                self.send_response(416); self.send_header('Content-Range', f'bytes */{len(data)}'); self.end_headers(); return
            body = data[start:]
            self.send_response(206); self.send_header('Content-Range', f'bytes {start}-{len(data) - 1}/{len(data)}')
        else:
            body = data; self.send_response(200)
        self.send_header('Content-Length', str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass

@pytest.fixture
def server():
    if DATA is None or not (DATA / SRC).is_file(): pytest.skip('shared data not available (set ALIGN_NB_DATA)')
    H = type('H', (RangeHandler,), dict(root=DATA, log=[], ignore_range=False))
    srv = ThreadingHTTPServer(('127.0.0.1', 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True); t.start()
    yield f'http://127.0.0.1:{srv.server_address[1]}', H
    srv.shutdown(); srv.server_close(); t.join(5)

def sha(b): return hashlib.sha256(b).hexdigest()

def test_download_equals_source(server, tmp_path):
    base, H = server
    src = (DATA / SRC).read_bytes()
    p = rd.download(f'{base}/{SRC}', dest_dir=tmp_path, sha256=sha(src), progress=False)
    assert p == tmp_path / 'resnet20-12fca82f.th' and p.read_bytes() == src
    assert not (tmp_path / 'resnet20-12fca82f.th.part').exists()
    assert H.log == [(f'/{SRC}', None)]

def test_download_without_checksum_and_custom_name(server, tmp_path):
    base, H = server
    p = rd.download(f'{base}/things/unique_id.txt', dest_dir=tmp_path, filename='ids.txt', progress=False)
    assert p.name == 'ids.txt' and p.read_bytes() == (DATA / 'things/unique_id.txt').read_bytes()

def test_checksum_mismatch_raises_and_leaves_no_file(server, tmp_path):
    base, _ = server
    with pytest.raises(AlignNbError, match='SHA-256 mismatch'):
        rd.download(f'{base}/{SRC}', dest_dir=tmp_path, sha256='0' * 64, progress=False)
    assert list(tmp_path.iterdir()) == []

def test_resume_from_partial_file_uses_range(server, tmp_path):
    base, H = server
    src = (DATA / SRC).read_bytes()
    (tmp_path / 'resnet20-12fca82f.th.part').write_bytes(src[:300_000])
    p = rd.download(f'{base}/{SRC}', dest_dir=tmp_path, sha256=sha(src), progress=False)
    assert H.log == [(f'/{SRC}', 'bytes=300000-')]
    assert p.read_bytes() == src and not (tmp_path / 'resnet20-12fca82f.th.part').exists()

def test_resume_when_server_ignores_range_starts_over(server, tmp_path):
    base, H = server
    H.ignore_range = True
    src = (DATA / SRC).read_bytes()
    (tmp_path / 'resnet20-12fca82f.th.part').write_bytes(src[:1000])
    p = rd.download(f'{base}/{SRC}', dest_dir=tmp_path, sha256=sha(src), progress=False)
    assert H.log[0][1] == 'bytes=1000-' and p.read_bytes() == src

def test_complete_part_file_gets_416_and_is_finished(server, tmp_path):
    base, H = server
    src = (DATA / SRC).read_bytes()
    (tmp_path / 'resnet20-12fca82f.th.part').write_bytes(src)
    p = rd.download(f'{base}/{SRC}', dest_dir=tmp_path, sha256=sha(src), progress=False)
    assert p.read_bytes() == src and H.log == [(f'/{SRC}', f'bytes={len(src)}-')]

def test_resume_false_discards_partial(server, tmp_path):
    base, H = server
    src = (DATA / SRC).read_bytes()
    (tmp_path / 'resnet20-12fca82f.th.part').write_bytes(b'garbage')
    p = rd.download(f'{base}/{SRC}', dest_dir=tmp_path, sha256=sha(src), resume=False, progress=False)
    assert p.read_bytes() == src and H.log == [(f'/{SRC}', None)]

def test_skip_when_present_with_right_checksum(server, tmp_path):
    base, H = server
    src = (DATA / SRC).read_bytes()
    (tmp_path / 'resnet20-12fca82f.th').write_bytes(src)
    rd.download(f'{base}/{SRC}', dest_dir=tmp_path, sha256=sha(src), progress=False)
    assert H.log == []
    (tmp_path / 'resnet20-12fca82f.th').write_bytes(b'corrupt')  # wrong checksum: fetched again
    with pytest.warns(UserWarning, match='downloading it again'):
        p = rd.download(f'{base}/{SRC}', dest_dir=tmp_path, sha256=sha(src), progress=False)
    assert p.read_bytes() == src and len(H.log) == 1

def test_missing_url_raises_oserror(server, tmp_path):
    base, _ = server
    with pytest.raises(OSError, match='HTTP 404'): rd.download(f'{base}/nope.bin', dest_dir=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []

def test_registered_dataset_downloads_into_named_folder(server, tmp_path, monkeypatch):
    base, H = server
    files = {f: f'{base}/cifar_resnet/{f}' for f in rd.DATASETS['cifar_resnet']['files']}
    monkeypatch.setitem(rd.DATASETS, 'cifar_resnet', {**rd.DATASETS['cifar_resnet'], 'files': files})
    monkeypatch.setenv('ALIGN_NB_DATA', str(tmp_path))
    folder = rd.download('cifar_resnet', progress=False)  # checked against the registry's SHA-256
    assert folder == tmp_path / 'cifar_resnet'
    for f in files: assert (folder / f).read_bytes() == (DATA / 'cifar_resnet' / f).read_bytes()
    n = len(H.log)
    rd.download('cifar_resnet', progress=False)
    assert len(H.log) == n  # everything present with the right checksum: no request

def test_registry_entries_are_documented():
    for name, d in rd.DATASETS.items():
        assert d.get('description') and d.get('licence') and d.get('page'), name
        assert d.get('files') or d.get('instructions'), name
        for f, u in d.get('files', {}).items(): assert u.startswith('https://'), (name, f)
    for name in ('things_images', 'imagenet', 'things_triplets'):
        with pytest.raises(AlignNbError, match='cannot be downloaded automatically'): rd.download(name, dest_dir='/nonexistent')

def test_registry_checksums_match_shared_copies():
    if DATA is None: pytest.skip('shared data not available')
    from align_nb.core import sha256_file
    for name in ('cifar_resnet', 'mur92'):
        for f, h in rd.DATASETS[name]['sha256'].items():
            if (DATA / name / f).is_file(): assert sha256_file(DATA / name / f) == h, (name, f)

def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv('ALIGN_NB_DATA', str(tmp_path))
    assert rd.default_data_dir() == tmp_path
    monkeypatch.delenv('ALIGN_NB_DATA')
    assert rd.default_data_dir() == Path.home() / '.cache' / 'align_nb' / 'data'

"""Tests of align_nb.realdata.download against a loopback HTTP server (ETag/Last-Modified, If-Range, Range; no other network).

Each case of a download that could be silently wrong: a stale `.part` of another version, a `.part` longer than the
file (416), a body cut short with and without Content-Length, file names leaving the target folder, plain http, a
SHA-256 mismatch, files without a known SHA-256."""
import os, hashlib, threading, json, warnings
os.environ['HF_HUB_OFFLINE'] = '1'
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
import numpy as np
import pytest
from align_nb.core import AlignNbError, shared_data_dir, sha256_file
import align_nb.realdata as rd

pytestmark = pytest.mark.filterwarnings('ignore:download http:UserWarning')  # every loopback URL is plain http
DATA = shared_data_dir()
SRC = 'cifar_resnet/resnet20-12fca82f.th'  # ~1.1 MB real public file

def sha(b): return hashlib.sha256(b).hexdigest()
V1 = np.random.default_rng(1).bytes(300_000)
V2 = np.random.default_rng(2).bytes(300_000)  # another version of the same file (same length)

class Handler(BaseHTTPRequestHandler):
    "Serve `files` (path -> bytes); ETag + Last-Modified per version; Range honoured (206) when If-Range matches; faults on request."
    files: dict = {}
    log: list = []
    ignore_range = False  # answer every request with 200 and the whole file
    no_length = False     # send no Content-Length (the body ends when the connection closes)
    cut = None            # send only this many body bytes, then close
    validators = True     # send ETag / Last-Modified
    def do_GET(self):
        type(self).log.append((self.path, self.headers.get('Range'), self.headers.get('If-Range')))
        data = self.files.get(self.path)
        if data is None: self.send_error(404); return
        etag, lm = f'"{sha(data)[:16]}"', formatdate(1.6e9 + int(sha(data)[:6], 16), usegmt=True)
        rng, ifr = self.headers.get('Range'), self.headers.get('If-Range')
        if rng and not self.ignore_range and ifr in (None, etag, lm):
            start = int(rng.split('=')[1].split('-')[0])
            if start >= len(data):
                self.send_response(416); self.send_header('Content-Range', f'bytes */{len(data)}'); self.end_headers(); return
            body = data[start:]
            self.send_response(206); self.send_header('Content-Range', f'bytes {start}-{len(data) - 1}/{len(data)}')
        else:
            body = data; self.send_response(200)
        if self.validators: self.send_header('ETag', etag); self.send_header('Last-Modified', lm)
        if not self.no_length: self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body if self.cut is None else body[:self.cut])
    def log_message(self, *a): pass

@pytest.fixture
def server():
    files = {'/v.bin': V1}
    if DATA is not None and (DATA / SRC).is_file(): files[f'/{SRC}'] = (DATA / SRC).read_bytes()
    H = type('H', (Handler,), dict(files=files, log=[]))
    srv = ThreadingHTTPServer(('127.0.0.1', 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True); t.start()
    yield f'http://127.0.0.1:{srv.server_address[1]}', H
    srv.shutdown(); srv.server_close(); t.join(5)

def dl(url, d, **kw): return rd.download(url, dest_dir=d, progress=False, timeout=10, **kw)

def test_download_equals_source_and_leaves_nothing_else(server, tmp_path):
    base, H = server
    p = dl(f'{base}/v.bin', tmp_path, sha256=sha(V1))
    assert p == tmp_path / 'v.bin' and p.read_bytes() == V1
    assert sorted(q.name for q in tmp_path.iterdir()) == ['v.bin']  # no .part, no .part.json
    assert H.log == [('/v.bin', None, None)]

def test_real_file_equals_source(server, tmp_path):
    if DATA is None or not (DATA / SRC).is_file(): pytest.skip('shared data not available')
    base, _ = server
    src = (DATA / SRC).read_bytes()
    assert dl(f'{base}/{SRC}', tmp_path, sha256=sha(src)).read_bytes() == src

def test_without_checksum_warns_loudly_and_custom_name(server, tmp_path):
    base, _ = server
    with pytest.warns(UserWarning, match=f'NO SHA-256 KNOWN.*its SHA-256 is {sha(V1)}'):
        p = dl(f'{base}/v.bin', tmp_path, filename='ids.bin')
    assert p.name == 'ids.bin' and p.read_bytes() == V1

def test_checksum_mismatch_raises_and_leaves_no_file(server, tmp_path):
    base, _ = server
    with pytest.raises(AlignNbError, match='SHA-256 mismatch'): dl(f'{base}/v.bin', tmp_path, sha256='0' * 64)
    assert list(tmp_path.iterdir()) == []

def test_cut_with_content_length_keeps_part_and_resumes_with_if_range(server, tmp_path):
    base, H = server
    H.cut = 100_000
    with pytest.raises(OSError, match='rerun to resume'): dl(f'{base}/v.bin', tmp_path, sha256=sha(V1))
    assert (tmp_path / 'v.bin.part').stat().st_size == 100_000 and not (tmp_path / 'v.bin').exists()
    etag = json.loads((tmp_path / 'v.bin.part.json').read_text())['etag']
    H.cut = None
    p = dl(f'{base}/v.bin', tmp_path, sha256=sha(V1))
    assert H.log[-1] == ('/v.bin', 'bytes=100000-', etag)  # resumed, and only if the server still has the same file
    assert p.read_bytes() == V1 and sorted(q.name for q in tmp_path.iterdir()) == ['v.bin']

def test_stale_part_of_another_version_is_not_resumed(server, tmp_path):
    base, H = server
    H.cut = 100_000
    with pytest.raises(OSError): dl(f'{base}/v.bin', tmp_path)  # a partial V1
    H.cut, H.files['/v.bin'] = None, V2  # the server now has another version
    with pytest.warns(UserWarning, match='NO SHA-256 KNOWN'):
        p = dl(f'{base}/v.bin', tmp_path)  # even without a checksum: no V1 prefix + V2 tail
    assert H.log[-1][1] == 'bytes=100000-' and H.log[-1][2] is not None  # asked with If-Range; the server sent all of V2
    assert p.read_bytes() == V2

def test_part_without_validator_starts_from_zero(server, tmp_path):
    base, H = server
    (tmp_path / 'v.bin.part').write_bytes(V2[:1000])  # from somewhere else: nothing says which file it belongs to
    p = dl(f'{base}/v.bin', tmp_path, sha256=sha(V1))
    assert H.log == [('/v.bin', None, None)] and p.read_bytes() == V1

def test_validators_from_another_url_are_not_used(server, tmp_path):
    base, H = server
    (tmp_path / 'v.bin.part').write_bytes(V1[:1000])
    (tmp_path / 'v.bin.part.json').write_text(json.dumps({'url': f'{base}/other.bin', 'etag': f'"{sha(V1)[:16]}"'}))
    assert dl(f'{base}/v.bin', tmp_path, sha256=sha(V1)).read_bytes() == V1
    assert H.log == [('/v.bin', None, None)]

def test_part_longer_than_file_gets_416_and_is_never_accepted(server, tmp_path):
    base, H = server
    (tmp_path / 'v.bin.part').write_bytes(V1 + b'extra bytes')
    (tmp_path / 'v.bin.part.json').write_text(json.dumps({'url': f'{base}/v.bin', 'etag': f'"{sha(V1)[:16]}"'}))
    with pytest.warns(UserWarning, match='HTTP 416'):
        p = dl(f'{base}/v.bin', tmp_path)
    assert p.read_bytes() == V1  # downloaded again from the start, not the long partial file
    assert [r[1] for r in H.log] == [f'bytes={len(V1) + 11}-', None]

def test_server_ignoring_range_starts_over(server, tmp_path):
    base, H = server
    H.cut = 1000
    with pytest.raises(OSError): dl(f'{base}/v.bin', tmp_path, sha256=sha(V1))
    H.cut, H.ignore_range = None, True
    p = dl(f'{base}/v.bin', tmp_path, sha256=sha(V1))
    assert H.log[-1][1] == 'bytes=1000-' and p.read_bytes() == V1

def test_server_without_validators_never_resumes(server, tmp_path):
    base, H = server
    H.cut, H.validators = 1000, False
    with pytest.raises(OSError): dl(f'{base}/v.bin', tmp_path, sha256=sha(V1))
    H.cut = None
    assert dl(f'{base}/v.bin', tmp_path, sha256=sha(V1)).read_bytes() == V1
    assert H.log[-1] == ('/v.bin', None, None)

def test_body_cut_short_without_content_length(server, tmp_path, monkeypatch):
    base, H = server
    H.no_length, H.cut = True, 120_000
    with pytest.raises(AlignNbError, match='SHA-256 mismatch'): dl(f'{base}/v.bin', tmp_path, sha256=sha(V1))
    assert list(tmp_path.iterdir()) == []
    # a registered file: the registry's size says the body was cut short
    monkeypatch.setitem(rd.DATASETS, 'toy', dict(description='x', licence='x', page='x', files={'v.bin': f'{base}/v.bin'},
                                                  sha256={'v.bin': sha(V1)}, sizes={'v.bin': len(V1)}))
    with pytest.raises(OSError, match=f'got 120000 bytes, expected {len(V1)} \\(body cut short'):
        rd.download('toy', dest_dir=tmp_path, progress=False, timeout=10)
    assert not (tmp_path / 'toy' / 'v.bin').exists()
    # no size and no checksum known: cannot be checked, so it says so
    with pytest.warns(UserWarning, match='NO SHA-256 KNOWN.*length unknown'): dl(f'{base}/v.bin', tmp_path / 'u')

@pytest.mark.parametrize('name', ['../../x', '../x', '/tmp/align_nb_escape_x', 'a/b', '..', '.', ''])
def test_file_names_leaving_the_folder_are_refused(server, tmp_path, name):
    base, H = server
    d = tmp_path / 'a' / 'b'; d.mkdir(parents=True)
    with pytest.raises(AlignNbError, match='plain name inside|cannot derive'): dl(f'{base}/v.bin', d, filename=name)
    assert H.log == [] and not (tmp_path / 'x').exists() and not Path('/tmp/align_nb_escape_x').exists()
    assert [p for p in tmp_path.rglob('*') if p.is_file()] == []

def test_url_names_leaving_the_folder_are_refused(server, tmp_path):
    base, H = server
    with pytest.raises(AlignNbError, match='plain name inside'): dl(f'{base}/..%2F..%2Fx', tmp_path)
    assert H.log == []

def test_symlink_escaping_the_folder_is_refused(server, tmp_path):
    base, H = server
    d = tmp_path / 'd'; d.mkdir(); out = tmp_path / 'outside.bin'
    (d / 'v.bin.part').symlink_to(out)
    with pytest.raises(AlignNbError, match='outside'): dl(f'{base}/v.bin', d)
    assert not out.exists() and H.log == []

def test_plain_http_warns(server, tmp_path):
    base, _ = server
    with pytest.warns(UserWarning, match='plain http:// is neither encrypted nor authenticated'):
        dl(f'{base}/v.bin', tmp_path, sha256=sha(V1))

def test_resume_false_discards_partial(server, tmp_path):
    base, H = server
    (tmp_path / 'v.bin.part').write_bytes(b'garbage')
    (tmp_path / 'v.bin.part.json').write_text(json.dumps({'url': f'{base}/v.bin', 'etag': f'"{sha(V1)[:16]}"'}))
    p = dl(f'{base}/v.bin', tmp_path, sha256=sha(V1), resume=False)
    assert p.read_bytes() == V1 and H.log == [('/v.bin', None, None)]

def test_skip_when_present_with_right_checksum(server, tmp_path):
    base, H = server
    (tmp_path / 'v.bin').write_bytes(V1)
    dl(f'{base}/v.bin', tmp_path, sha256=sha(V1))
    assert H.log == []
    (tmp_path / 'v.bin').write_bytes(b'corrupt')  # wrong checksum: fetched again
    with pytest.warns(UserWarning, match='downloading it again'):
        p = dl(f'{base}/v.bin', tmp_path, sha256=sha(V1))
    assert p.read_bytes() == V1 and len(H.log) == 1

def test_missing_url_raises_oserror(server, tmp_path):
    base, _ = server
    with pytest.raises(OSError, match='HTTP 404'): dl(f'{base}/nope.bin', tmp_path)
    assert list(tmp_path.iterdir()) == []

def test_registered_dataset_downloads_into_named_folder(server, tmp_path, monkeypatch):
    if DATA is None or not (DATA / SRC).is_file(): pytest.skip('shared data not available')
    base, H = server
    for f in rd.DATASETS['cifar_resnet']['files']: H.files[f'/cifar_resnet/{f}'] = (DATA / 'cifar_resnet' / f).read_bytes()
    files = {f: f'{base}/cifar_resnet/{f}' for f in rd.DATASETS['cifar_resnet']['files']}
    monkeypatch.setitem(rd.DATASETS, 'cifar_resnet', {**rd.DATASETS['cifar_resnet'], 'files': files})
    monkeypatch.setenv('ALIGN_NB_DATA', str(tmp_path))
    folder = rd.download('cifar_resnet', progress=False)  # checked against the registry's SHA-256 and size
    assert folder == tmp_path / 'cifar_resnet'
    for f in files: assert (folder / f).read_bytes() == (DATA / 'cifar_resnet' / f).read_bytes()
    n = len(H.log)
    rd.download('cifar_resnet', progress=False)
    assert len(H.log) == n  # everything present with the right checksum: no request

def test_registry_entries_are_documented_and_checksummed():
    for name, d in rd.DATASETS.items():
        assert d.get('description') and d.get('licence') and d.get('page'), name
        assert d.get('files') or d.get('instructions'), name
        for f, u in d.get('files', {}).items():
            assert u.startswith('https://'), (name, f)
            if f in d.get('unverified', ()): continue  # no reference copy: download() warns
            assert len(d['sha256'][f]) == 64 and d['sizes'][f] > 0, (name, f)
    assert rd.DATASETS['levels']['unverified'] == ('pruned_dataset.pkl',)
    for name in ('things_images', 'imagenet', 'things_triplets'):
        with pytest.raises(AlignNbError, match='cannot be downloaded automatically'): rd.download(name, dest_dir='/nonexistent')

def test_registry_checksums_and_sizes_match_shared_copies():
    if DATA is None: pytest.skip('shared data not available')
    n = 0
    for name in ('cifar_resnet', 'mur92', 'things'):
        for f, h in rd.DATASETS[name]['sha256'].items():
            p = DATA / name / f
            if p.is_file(): assert sha256_file(p) == h and p.stat().st_size == rd.DATASETS[name]['sizes'][f], (name, f); n += 1
    assert n == 13

def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv('ALIGN_NB_DATA', str(tmp_path))
    assert rd.default_data_dir() == tmp_path
    monkeypatch.delenv('ALIGN_NB_DATA')
    assert rd.default_data_dir() == Path.home() / '.cache' / 'align_nb' / 'data'

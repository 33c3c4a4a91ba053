"""Bounded memory of `align-nb triplets inspect` on a synthetic official file.

    python bench/bench_release_inspect.py --rows 10000000 --dir /tmp/release_10M [--dtype S22] [--keep]
    /usr/bin/time -v python -m align_nb.cli triplets inspect DIR/uncertainty_distillation/train_cluster_border_500.npz --filenames DIR/imagenet2012_filenames.npy

Writes, chunk by chunk (bounded memory), a pool list of 1,281,167 ImageNet-like basenames (`imagenet2012_filenames.npy`)
and `<dir>/uncertainty_distillation/train_cluster_border_500.npz` with `rows` rows (odd one out last, indices consistent
with filenames); then runs inspect in a child process under `/usr/bin/time -v` and prints its wall time and peak RSS.
"""
import argparse, os, re, shutil, subprocess, sys, time
from pathlib import Path
import numpy as np

def write(d, rows, dtype, chunk=1 << 20, seed=0):
    from align_nb.triplets import write_npz_streaming
    from align_nb.release import release_path, TFDS_LIST_NAME
    rng = np.random.default_rng(seed); n_img = 1_281_167
    wn = rng.integers(1_000_000, 15_000_000, 1000)
    names = np.array([f'n{wn[i % 1000]:08d}_{i}.JPEG' for i in range(n_img)], dtype=dtype)
    d.mkdir(parents=True, exist_ok=True); np.save(d / TFDS_LIST_NAME, names)
    p = release_path(d, 'uncertainty_distillation', 'train', 'cluster_border_500')
    def idx():
        r = np.random.default_rng(seed + 1)
        for b in range(0, rows, chunk):
            m = min(chunk, rows - b); i = r.integers(0, n_img, (m, 3))
            i[:, 1] = (i[:, 0] + 1 + r.integers(0, n_img - 2, m)) % n_img; i[:, 2] = np.where(i[:, 2] == i[:, 0], (i[:, 2] + 7) % n_img, i[:, 2])
            i[:, 2] = np.where(i[:, 2] == i[:, 1], (i[:, 2] + 13) % n_img, i[:, 2])
            yield i
    def sims():
        r = np.random.default_rng(seed + 2)
        for b in range(0, rows, chunk):
            s = r.normal(size=(min(chunk, rows - b), 3)).astype(np.float32); s[:, 0] = s.max(1) + 0.1; yield s
    write_npz_streaming(p, {'filenames': (names.dtype, (rows, 3), (names[i] for i in idx())), 'similarities': (np.float32, (rows, 3), sims()),
                            'indices': (np.int64, (rows, 3), idx())})
    return p

def main(argv=None):
    ap = argparse.ArgumentParser(); ap.add_argument('--rows', type=int, default=10_000_000); ap.add_argument('--dir', default='/tmp/release_10M')
    ap.add_argument('--dtype', default='S22', help="filenames dtype: 'S22' (bytes, 0.66 GB at 10M rows) or '<U22' (unicode, 2.6 GB)")
    ap.add_argument('--keep', action='store_true'); ap.add_argument('--no-list', action='store_true')
    a = ap.parse_args(argv); d = Path(a.dir)
    t0 = time.time(); p = write(d, a.rows, a.dtype); tw = time.time() - t0
    print(f'wrote {p} ({p.stat().st_size / 1e9:.2f} GB, {a.rows} rows, filenames {a.dtype}) in {tw:.0f} s', flush=True)
    cmd = ['/usr/bin/time', '-v', sys.executable, '-m', 'align_nb.cli', 'triplets', 'inspect', str(p)] + ([] if a.no_list else ['--filenames', str(d / 'imagenet2012_filenames.npy')])
    r = subprocess.run(cmd, capture_output=True, text=True)
    print(r.stdout[-3000:])
    wall = re.search(r'Elapsed \(wall clock\) time.*: (.*)', r.stderr); rss = re.search(r'Maximum resident set size \(kbytes\): (\d+)', r.stderr)
    print(f'inspect exit code {r.returncode}; wall time {wall.group(1) if wall else "?"} (h:mm:ss); peak RSS {int(rss.group(1)) / 1024**2:.2f} GiB' if rss else r.stderr[-2000:])
    if not a.keep: shutil.rmtree(d)

if __name__ == '__main__': main()

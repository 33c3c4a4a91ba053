"""Benchmark: streaming AligNet triplet generation at ImageNet scale into the official `.npz`, ours vs floors, one run.

Pool: synthetic clustered float16 features (default 1.28M x 1,152, 500 clusters; the same cached file as
bench_kmeans.py), cluster labels = the true synthetic clusters (k-means is benchmarked separately).
`align_nb.triplets.generate_triplets(path=...)` draws `cluster_border` triplets in chunks, deduplicates them across
chunks, computes `[s01, s02, s12]`, puts the most similar pair first, divides by T and writes `filenames` (<U20
ImageNet-like basenames), `similarities` and `indices` as uncompressed npz members. Measured side by side:

* ours     : the default path: sampling, similarities and writing overlap in three threads; the similarities by
             row part (`--parts`, default: 1 per 3.5M triplets, at most 3), each part grouped by the cluster of
             item 0 (`triplets.grouped_similarities`: the cluster's rows are read and cast to float32 once per part, a
             cache-resident block; only the odd item is a random row; `--threads` worker threads over clusters);
             part k's `filenames` rows are written while part k+1 is computed. All `--n-triplets`, end to end.
             Printed per phase (wall and CPU seconds of its thread) and the overlap (sum of phases - total).
* sequential: (`--variants ours,sequential`) the same file computed one step after another (`overlap=False,
             parts=1`: sample everything, then the similarities, then the write), the previous order.
* floor    : a bare gather of the 3 float16 rows of every triplet (torch `index_select`, no cast, no arithmetic,
             `--threads` torch threads) on `--floor-n` triplets, scaled to `--n-triplets`: the cost of ANY
             row-per-triplet method.
* per-row  : the previous similarity kernel (`ordered_similarities`: gather + cast + 3 dot products per triplet,
             blocks of 32,768, `--threads` workers; now with the torch cast) on `--floor-n` triplets, scaled.
* equality : `--check-n` triplets written by ours (overlapped, 3 parts) and by the plain row-per-triplet path one
             step after another (`grouped=False, overlap=False`): identical `indices`, `similarities`, `filenames`
             and the same file bytes (zip member timestamps frozen); the big file is checked for duplicates / pair
             order and 2,000 rows against a float64 recomputation.

    OMP_NUM_THREADS=1 python bench/bench_triplet_generation.py [--threads 1|2] [--n-triplets 10000000] [--variants ours,sequential]
"""
import argparse, json, os, resource, sys, time, tracemalloc
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np
from bench_kmeans import synthetic_store, BENCH_DIR


def check(path, store, T, n_check=2000, seed=0):
    "Invariants of the written file: loads, no duplicates, pair (0, 1) max, similarities / T match a float64 recomputation."
    from align_nb.release import ReleaseTriplets
    with np.load(path) as z: assert sorted(z.files) == ['filenames', 'indices', 'similarities']
    lt = ReleaseTriplets(path); idx = np.asarray(lt.indices); s = np.asarray(lt.similarities)
    srt = np.sort(idx, 1); n = len(store)
    assert len(np.unique((srt[:, 0] * n + srt[:, 1]) * n + srt[:, 2])) == len(idx), 'duplicate triplets'
    assert ((s[:, 0] >= s[:, 1]) & (s[:, 0] >= s[:, 2])).all(), 'pair (0, 1) is not the most similar'
    rows = np.random.default_rng(seed).choice(len(idx), min(n_check, len(idx)), replace=False)
    f = store.rows(idx[rows]).astype(np.float64)
    ref = np.stack([(f[:, 0] * f[:, 1]).sum(1), (f[:, 0] * f[:, 2]).sum(1), (f[:, 1] * f[:, 2]).sum(1)], 1) / T
    err = np.abs(ref - s[rows]).max() / np.abs(ref).max()
    assert err < 1e-5, f'similarities differ from the float64 recomputation (max rel err {err:.2e})'
    assert lt.filenames[rows[0], 0] == f'n{idx[rows[0], 0] % 1000:08d}_{idx[rows[0], 0]:011d}.JPEG'[-20:]
    return err


def bare_gather(store, trip, threads, block=32768):
    "Seconds to gather the 3 float16 rows of every triplet (torch index_select, no cast): the row-per-triplet floor."
    import torch
    from align_nb.features import torch_view
    D = torch_view(store.data); nt = torch.get_num_threads(); torch.set_num_threads(threads)
    try:
        t = time.perf_counter()
        for b in range(0, len(trip), block): D.index_select(0, torch.from_numpy(np.ascontiguousarray(trip[b:b + block].ravel())))
        return time.perf_counter() - t
    finally: torch.set_num_threads(nt)


def frozen_zip_time():
    "Freeze the zip member timestamps (the only run-dependent bytes of the file), so two files compare byte for byte."
    import time as _t, types, zipfile
    now = _t.time(); zipfile.time = types.SimpleNamespace(time=lambda: now, localtime=_t.localtime)


def same_bytes(p1, p2, block=1 << 24):
    "Whether two files hold the same bytes."
    if os.path.getsize(p1) != os.path.getsize(p2): return False
    with open(p1, 'rb') as f1, open(p2, 'rb') as f2:
        while True:
            b1, b2 = f1.read(block), f2.read(block)
            if b1 != b2: return False
            if not b1: return True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=1_280_000); ap.add_argument('--dim', type=int, default=1152)
    ap.add_argument('--k', type=int, default=500); ap.add_argument('--n-triplets', type=int, default=10_000_000)
    ap.add_argument('--floor-n', type=int, default=500_000, help='triplets for the bare-gather floor and the per-row path (scaled)')
    ap.add_argument('--check-n', type=int, default=200_000, help='triplets written by ours and the plain path and compared bit for bit')
    ap.add_argument('--chunk', type=int, default=1_000_000); ap.add_argument('--cache-dir', default=BENCH_DIR)
    ap.add_argument('--T', type=float, default=0.5, help='teacher temperature')
    ap.add_argument('--threads', '--workers', type=int, default=1, help='worker threads of ours and the per-row path, torch threads of the floor')
    ap.add_argument('--parts', type=int, default=None, help='row parts of ours (default: the library default, 1 per 2.5M triplets, at most 4)')
    ap.add_argument('--variants', default='ours', help="comma-separated: ours (overlapped), sequential (overlap=False, parts=1: one step after another)")
    ap.add_argument('--sorted', action='store_true', help='also run ours on a cluster-sorted copy of the store')
    a = ap.parse_args(argv)
    from align_nb.triplets import generate_triplets, sample_triplets_chunked
    from align_nb.features import FeatureStore
    frozen_zip_time()
    store, truth = synthetic_store(a.n, a.dim, a.k, cache_dir=a.cache_dir)
    ids = np.array([f'n{i % 1000:08d}_{i:011d}.JPEG'[-20:] for i in range(a.n)])  # 20 characters, like ImageNet basenames
    print(f'cluster_border triplets from {a.n} x {a.dim} float16 features ({a.k} clusters, memory-mapped), {a.threads} thread(s), '
          f'OMP_NUM_THREADS={os.environ.get("OMP_NUM_THREADS")}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}', flush=True)
    gen = lambda st, out, m, **kw: generate_triplets(st, m, 'cluster_border', path=out, k=truth, temperature=a.T, ids=ids, chunk=a.chunk,
                                                     workers=a.threads, progress=False, **kw)
    res = {}
    # 1. equality: ours (overlapped, 3 parts) vs the plain row-per-triplet path one step after another (same seed, same inputs)
    o1, o2 = (os.path.join(a.cache_dir, f'triplets_check_{v}_{os.getpid()}.npz') for v in ('ours', 'plain'))
    gen(store, o1, a.check_n, grouped=True, parts=3); gen(store, o2, a.check_n, grouped=False, overlap=False)
    with np.load(o1) as z1, np.load(o2) as z2: same = {m: bool(np.array_equal(z1[m], z2[m])) for m in ('indices', 'similarities', 'filenames')}
    same_file = same_bytes(o1, o2)
    print(f'  equality on {a.check_n:,} triplets, ours (overlapped, 3 parts) vs the plain per-row path one step after another (bit for bit): {same}, '
          f'file bytes identical: {same_file}', flush=True)
    for o in (o1, o2): os.remove(o); os.remove(o + '.manifest.json')
    # 2. floors on a subset (similarity stage only: the same triplets, no sampling or writing)
    from align_nb.triplets import ordered_similarities, grouped_similarities
    sub = next(iter(sample_triplets_chunked(truth, a.floor_n, 'cluster_border', 0, a.floor_n)))
    scale = a.n_triplets / a.floor_n
    t_floor = min(bare_gather(store, sub, a.threads) for _ in range(2)) * scale
    t = time.perf_counter(); ordered_similarities(store, sub, 'dot', 32768, a.threads); t_rows = (time.perf_counter() - t) * scale
    t = time.perf_counter(); grouped_similarities(store, sub, truth, 'dot', a.threads); t_sub = (time.perf_counter() - t) * scale
    print(f'  floor: bare gather of 3 float16 rows per triplet ({a.floor_n:,} triplets, best of 2, scaled): {t_floor:6.1f} s per {a.n_triplets:,}', flush=True)
    print(f'  per-row path (gather + cast + 3 dot products per triplet, `ordered_similarities`, {a.floor_n:,} triplets, scaled): {t_rows:6.1f} s per {a.n_triplets:,}', flush=True)
    print(f'  grouped similarities on the same {a.floor_n:,} triplets (one part; its block reads are not amortised at this size, scaled): {t_sub:6.1f} s per {a.n_triplets:,}  '
          f'(side by side: floor / grouped {t_floor / t_sub:.2f}x, per-row / grouped {t_rows / t_sub:.2f}x)', flush=True)
    # 3. end to end at full size
    runs = []
    for v in a.variants.split(','):
        if v not in ('ours', 'sequential'): raise SystemExit(f'unknown variant {v!r}: ours, sequential')
        runs.append((v, store, dict(parts=a.parts) if v == 'ours' else dict(parts=1, overlap=False)))
    if a.sorted:
        sp = str(store.path)[:-4] + '_sorted.npy'
        if not os.path.exists(sp): store.sorted_by(truth, sp, progress=False)
        runs.append(('ours_sorted_store', FeatureStore(sp), dict(parts=a.parts)))
    tracemalloc.start()
    for name, st, kw in runs:
        out = os.path.join(a.cache_dir, f'triplets_{name}_{os.getpid()}.npz')
        l0 = os.getloadavg()[0]
        tracemalloc.reset_peak(); base = tracemalloc.get_traced_memory()[0]; t = time.perf_counter(); c0 = time.process_time()
        gen(st, out, a.n_triplets, **kw)
        dt = time.perf_counter() - t; cpu = time.process_time() - c0
        peak = (tracemalloc.get_traced_memory()[1] - base) / 2**30
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        with open(out + '.manifest.json') as f: man = json.load(f)
        sec = man['seconds']; cs = sec['cpu']; sim_cpu = cs['process'] - cs['sampling'] - cs['write']
        err = check(out, st, a.T); size = os.path.getsize(out) / 2**30
        res[name] = dict(s=dt, cpu_s=cpu, rate=a.n_triplets / dt, peak_heap_gb=peak, maxrss_gb=rss, stages=sec, parts=man['parts'], load=(l0, os.getloadavg()[0]))
        print(f'  {name} ({man["parts"]} part(s), overlap {man["overlap"]}): {dt:6.1f} s for {a.n_triplets:,} (process CPU {cpu:.1f} s; {a.n_triplets / dt:,.0f} triplets/s; '
              f'load average {l0:.1f} -> {os.getloadavg()[0]:.1f})', flush=True)
        print(f'      phases (wall / CPU s): sampling {sec["groups_and_sampling"]:.1f} / {cs["sampling"]:.1f}, similarities {sec["similarities"]:.1f} / ~{sim_cpu:.1f} '
              f'(process CPU minus the other two threads), write {sec["write"]:.1f} / {cs["write"]:.1f} (of it after the last part: {sec["write_after_last_part"]:.1f} s wall); '
              f'sum {sec["groups_and_sampling"] + sec["similarities"] + sec["write"]:.1f} s, total {sec["total"]:.1f} s: overlap saved {sec["overlapped"]:.1f} s', flush=True)
        print(f'      peak traced heap {peak:.2f} GB  maxrss {rss:.2f} GB  file {size:.2f} GB  check ok (max rel err vs float64 {err:.1e})', flush=True)
        os.remove(out); os.remove(out + '.manifest.json')
    first = runs[0][0]; t_ours = res[first]['s']; t_sim = res[first]['stages']['similarities']
    print(f'  side by side for {a.n_triplets:,} triplets ({first}): end to end {t_ours:.1f} s wall, {res[first]["cpu_s"]:.1f} s CPU (target <= 60 s on 2 cores); '
          f'similarity phase {t_sim:.1f} s; bare-gather floor {t_floor:.1f} s ({t_floor / t_sim:.2f}x our similarity phase, {t_floor / t_ours:.2f}x our end to end); '
          f'per-row path {t_rows:.1f} s ({t_rows / t_sim:.2f}x our similarity phase)   load average {os.getloadavg()[0]:.1f}')
    if 'sequential' in res and 'ours' in res:
        print(f'  overlapped vs sequential (same run): {res["ours"]["s"]:.1f} s vs {res["sequential"]["s"]:.1f} s ({res["sequential"]["s"] / res["ours"]["s"]:.2f}x), '
              f'CPU {res["ours"]["cpu_s"]:.1f} vs {res["sequential"]["cpu_s"]:.1f} s')
    return dict(res, floor_s=t_floor, rows_s=t_rows, same=dict(same, file_bytes=same_file))


if __name__ == '__main__':
    r = main()
    if not all(r['same'].values()): print('MISMATCH between ours and the plain path'); raise SystemExit(1)

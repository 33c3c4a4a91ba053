"""Benchmark: streaming AligNet triplet generation at ImageNet scale into the official `.npz`, ours vs floors, one run.

Pool: synthetic clustered float16 features (default 1.28M x 1,152, 500 clusters; the same cached file as
bench_kmeans.py), cluster labels = the true synthetic clusters (k-means is benchmarked separately).
`align_nb.scale.generate_triplets_streaming` draws `cluster_border` triplets in chunks, deduplicates them across
chunks, computes `[s01, s02, s12]`, puts the most similar pair first, divides by T and writes `filenames` (<U20
ImageNet-like basenames), `similarities` and `indices` as uncompressed npz members. Measured side by side:

* ours     : the default grouped path (`scale.grouped_similarities`): triplets processed by the cluster of their
             item 0; the cluster's rows are read and cast to float32 once (a cache-resident block), only the odd
             item is a random row; `--threads` worker threads over clusters. All `--n-triplets`, end to end.
* floor    : a bare gather of the 3 float16 rows of every triplet (torch `index_select`, no cast, no arithmetic,
             `--threads` torch threads) on `--floor-n` triplets, scaled to `--n-triplets`: the cost of ANY
             row-per-triplet method.
* per-row  : the previous similarity kernel (`ordered_similarities`: gather + cast + 3 dot products per triplet,
             blocks of 32,768, `--threads` workers; now with the torch cast) on `--floor-n` triplets, scaled.
* equality : `--check-n` triplets written by both paths: the two files must hold identical `indices`,
             `similarities` and `filenames` (bit for bit); the big file is checked for duplicates / pair order and
             2,000 rows against a float64 recomputation.

    OMP_NUM_THREADS=1 python bench/bench_triplet_generation.py [--threads 1|2] [--n-triplets 10000000]
"""
import argparse, json, os, resource, sys, time, tracemalloc
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np
from bench_kmeans import synthetic_store, BENCH_DIR


def check(path, store, T, n_check=2000, seed=0):
    "Invariants of the written file: loads, no duplicates, pair (0, 1) max, similarities / T match a float64 recomputation."
    from align_nb.scale import LazyTriplets
    with np.load(path) as z: assert sorted(z.files) == ['filenames', 'indices', 'similarities']
    lt = LazyTriplets(path); idx = np.asarray(lt.indices); s = np.asarray(lt.similarities)
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
    from align_nb.scale import _torch_rows
    D = _torch_rows(store.data); nt = torch.get_num_threads(); torch.set_num_threads(threads)
    try:
        t = time.perf_counter()
        for b in range(0, len(trip), block): D.index_select(0, torch.from_numpy(np.ascontiguousarray(trip[b:b + block].ravel())))
        return time.perf_counter() - t
    finally: torch.set_num_threads(nt)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=1_280_000); ap.add_argument('--dim', type=int, default=1152)
    ap.add_argument('--k', type=int, default=500); ap.add_argument('--n-triplets', type=int, default=10_000_000)
    ap.add_argument('--floor-n', type=int, default=500_000, help='triplets for the bare-gather floor and the per-row path (scaled)')
    ap.add_argument('--check-n', type=int, default=200_000, help='triplets written by both paths and compared bit for bit')
    ap.add_argument('--chunk', type=int, default=1_000_000); ap.add_argument('--cache-dir', default=BENCH_DIR)
    ap.add_argument('--T', type=float, default=0.5, help='teacher temperature')
    ap.add_argument('--threads', '--workers', type=int, default=1, help='worker threads of ours and the per-row path, torch threads of the floor')
    ap.add_argument('--sorted', action='store_true', help='also run ours on a cluster-sorted copy of the store')
    a = ap.parse_args(argv)
    from align_nb.scale import generate_triplets_streaming, sample_triplets_chunked, FeatureStore
    store, truth = synthetic_store(a.n, a.dim, a.k, cache_dir=a.cache_dir)
    ids = np.array([f'n{i % 1000:08d}_{i:011d}.JPEG'[-20:] for i in range(a.n)])  # 20 characters, like ImageNet basenames
    print(f'cluster_border triplets from {a.n} x {a.dim} float16 features ({a.k} clusters, memory-mapped), {a.threads} thread(s), '
          f'OMP_NUM_THREADS={os.environ.get("OMP_NUM_THREADS")}, load average {os.getloadavg()[0]:.1f}', flush=True)
    gen = lambda st, out, m, grouped: generate_triplets_streaming(st, out, m, 'cluster_border', k=truth, temperature=a.T, ids=ids, chunk=a.chunk,
                                                                  workers=a.threads, grouped=grouped, progress=False)
    res = {}
    # 1. equality of the two paths on a subset (same seed, same inputs)
    o1, o2 = (os.path.join(a.cache_dir, f'triplets_check_{v}_{os.getpid()}.npz') for v in ('grouped', 'rows'))
    gen(store, o1, a.check_n, True); gen(store, o2, a.check_n, False)
    with np.load(o1) as z1, np.load(o2) as z2: same = {m: bool(np.array_equal(z1[m], z2[m])) for m in ('indices', 'similarities', 'filenames')}
    print(f'  equality on {a.check_n:,} triplets, grouped vs per-row path (bit for bit): {same}', flush=True)
    for o in (o1, o2): os.remove(o); os.remove(o + '.manifest.json')
    # 2. floors on a subset (similarity stage only: the same triplets, no sampling or writing)
    from align_nb.scale import ordered_similarities
    sub = next(iter(sample_triplets_chunked(truth, a.floor_n, 'cluster_border', 0, a.floor_n)))
    scale = a.n_triplets / a.floor_n
    t_floor = min(bare_gather(store, sub, a.threads) for _ in range(2)) * scale
    t = time.perf_counter(); ordered_similarities(store, sub, 'dot', 32768, a.threads); t_rows = (time.perf_counter() - t) * scale
    from align_nb.scale import grouped_similarities  # ours on the same subset (its per-group block reads are not amortised at this size)
    t = time.perf_counter(); grouped_similarities(store, sub, truth, 'dot', a.threads); t_sub = (time.perf_counter() - t) * scale
    print(f'  floor: bare gather of 3 float16 rows per triplet ({a.floor_n:,} triplets, best of 2, scaled): {t_floor:6.1f} s per {a.n_triplets:,}', flush=True)
    print(f'  per-row path (gather + cast + 3 dot products per triplet, `ordered_similarities`, {a.floor_n:,} triplets, scaled): {t_rows:6.1f} s per {a.n_triplets:,}', flush=True)
    print(f'  ours on the same {a.floor_n:,} triplets (`grouped_similarities`, scaled): {t_sub:6.1f} s per {a.n_triplets:,}  '
          f'(side by side: floor / ours {t_floor / t_sub:.2f}x, per-row / ours {t_rows / t_sub:.2f}x)', flush=True)
    # 3. ours, end to end at full size
    stores = {'ours': store}
    if a.sorted:
        sp = str(store.path)[:-4] + '_sorted.npy'
        if not os.path.exists(sp): store.sorted_by(truth, sp, progress=False)
        stores['ours_sorted_store'] = FeatureStore(sp)
    tracemalloc.start()
    for name, st in stores.items():
        out = os.path.join(a.cache_dir, f'triplets_{name}_{os.getpid()}.npz')
        tracemalloc.reset_peak(); base = tracemalloc.get_traced_memory()[0]; t = time.perf_counter(); c0 = time.process_time()
        gen(st, out, a.n_triplets, True)
        dt = time.perf_counter() - t; cpu = time.process_time() - c0
        peak = (tracemalloc.get_traced_memory()[1] - base) / 2**30
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        with open(out + '.manifest.json') as f: sec = json.load(f)['seconds']
        err = check(out, st, a.T); size = os.path.getsize(out) / 2**30
        res[name] = dict(s=dt, cpu_s=cpu, rate=a.n_triplets / dt, peak_heap_gb=peak, maxrss_gb=rss, stages=sec)
        print(f'  {name}: {dt:6.1f} s for {a.n_triplets:,} (process CPU {cpu:.1f} s; {a.n_triplets / dt:,.0f} triplets/s; stages: sampling {sec["groups_and_sampling"]:.1f} s, '
              f'similarities {sec["similarities"]:.1f} s, write {sec["write"]:.1f} s)  peak traced heap {peak:.2f} GB  maxrss {rss:.2f} GB  '
              f'file {size:.2f} GB  check ok (max rel err vs float64 {err:.1e})', flush=True)
        os.remove(out); os.remove(out + '.manifest.json')
    t_ours = res['ours']['s']; t_sim = res['ours']['stages']['similarities']
    print(f'  similarity stage for {a.n_triplets:,}: ours {t_sim:.1f} s, bare-gather floor {t_floor:.1f} s ({t_floor / t_sim:.2f}x ours), '
          f'per-row path {t_rows:.1f} s ({t_rows / t_sim:.2f}x ours)')
    print(f'  ours end to end {t_ours:.1f} s wall, {res["ours"]["cpu_s"]:.1f} s CPU (target <= 60 s on 2 cores); the floor alone is {t_floor / t_ours:.2f}x that   '
          f'load average {os.getloadavg()[0]:.1f}')
    return dict(res, floor_s=t_floor, rows_s=t_rows, same=same)


if __name__ == '__main__':
    r = main()
    if not all(r['same'].values()): print('MISMATCH between the grouped and the per-row path'); raise SystemExit(1)

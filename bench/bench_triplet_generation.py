"""Benchmark: streaming AligNet triplet generation at ImageNet scale into the official `.npz`.

Pool: synthetic clustered float16 features (default 1.28M x 1,152, 500 clusters; the same cached file as
bench_kmeans.py), cluster labels = the true synthetic clusters (k-means is benchmarked separately).
`align_nb.scale.generate_triplets_streaming` draws `cluster_border` triplets in chunks, deduplicates them across
chunks, gathers the three feature rows, orders by similarity, divides by T and writes `filenames` (<U20 ImageNet-like
basenames), `similarities` and `indices` as uncompressed npz members. Two variants in one run:

* random : the store in pool order (feature rows of a triplet are scattered over the 3 GB file)
* sorted : the store sorted by cluster (`FeatureStore.sorted_by`): the two same-cluster rows of a triplet are near.

Reported: wall time, triplets/s, peak traced heap (tracemalloc) and ru_maxrss; the output is checked (no duplicate
triplets, pair (0, 1) max, similarities of 2,000 random rows recomputed in float64). Targets: <= 3 min, <= 8 GB.

    OMP_NUM_THREADS=1 python bench/bench_triplet_generation.py [--n-triplets 10000000] [--variants random,sorted] [--workers 1]
"""
import argparse, os, resource, sys, time, tracemalloc
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import numpy as np
from bench_kmeans import synthetic_store


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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=1_280_000); ap.add_argument('--dim', type=int, default=1152)
    ap.add_argument('--k', type=int, default=500); ap.add_argument('--n-triplets', type=int, default=10_000_000)
    ap.add_argument('--chunk', type=int, default=1_000_000); ap.add_argument('--block', type=int, default=32768)
    ap.add_argument('--variants', default='random,sorted'); ap.add_argument('--cache-dir', default='/tmp/align_nb_bench')
    ap.add_argument('--T', type=float, default=0.5, help='teacher temperature')
    ap.add_argument('--workers', type=int, default=1, help='threads for the similarity blocks')
    a = ap.parse_args(argv)
    from align_nb.scale import generate_triplets_streaming, FeatureStore
    store, truth = synthetic_store(a.n, a.dim, a.k, cache_dir=a.cache_dir)
    ids = np.array([f'n{i % 1000:08d}_{i:011d}.JPEG'[-20:] for i in range(a.n)])  # 20 characters, like ImageNet basenames
    stores = {'random': store}
    if 'sorted' in a.variants:
        sp = str(store.path)[:-4] + '_sorted.npy'
        if not os.path.exists(sp):
            t = time.perf_counter(); store.sorted_by(truth, sp, progress=False)
            print(f'  (wrote the cluster-sorted copy in {time.perf_counter() - t:.1f} s)')
        stores['sorted'] = FeatureStore(sp)
    print(f'{a.n_triplets} cluster_border triplets from {a.n} x {a.dim} float16 features ({a.k} clusters), chunk {a.chunk}, '
          f'block {a.block}, {a.workers} worker thread(s), OMP_NUM_THREADS={os.environ.get("OMP_NUM_THREADS")}', flush=True)
    tracemalloc.start(); res = {}
    for name in a.variants.split(','):
        out = os.path.join(a.cache_dir, f'triplets_{name}.npz')
        tracemalloc.reset_peak(); base = tracemalloc.get_traced_memory()[0]; t = time.perf_counter()
        generate_triplets_streaming(stores[name], out, a.n_triplets, 'cluster_border', k=truth, temperature=a.T, ids=ids,
                                    chunk=a.chunk, block=a.block, workers=a.workers, progress=False)
        dt = time.perf_counter() - t
        peak = (tracemalloc.get_traced_memory()[1] - base) / 2**30
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        err = check(out, stores[name], a.T)
        size = os.path.getsize(out) / 2**30
        res[name] = dict(s=dt, rate=a.n_triplets / dt, peak_heap_gb=peak, maxrss_gb=rss)
        print(f'  {name:7s} {dt:7.1f} s  {a.n_triplets / dt:10.0f} triplets/s  -> 10M in {1e7 / (a.n_triplets / dt):6.1f} s   '
              f'peak heap {peak:.2f} GB  maxrss {rss:.2f} GB  file {size:.2f} GB  check ok (max rel err {err:.1e})', flush=True)
        os.remove(out); os.remove(out + '.manifest.json')
    if len(res) == 2:
        print(f'  speed-up sorted/random: {res["random"]["s"] / res["sorted"]["s"]:.2f}   (targets: <= 180 s and <= 8 GB for 10M)')
    return res


if __name__ == '__main__':
    main()

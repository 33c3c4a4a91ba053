"""Benchmark: k-means with k = 500 on ImageNet-scale features in bounded memory, two implementations side by side.

Data: synthetic clustered teacher features, n x d float16 in a memory-mapped `FeatureStore` (default the paper's
1.28M x 1,152, ~3 GB; cached under --cache-dir and reused), 500 true clusters (centres N(0, sep^2), unit noise).

* ours      : `align_nb.triplets.kmeans` chunked path defaults (greedy k-means++ and Lloyd on a 25k subsample, then chunked full
              Lloyd passes with float32 matmul chunks, then one assignment pass), --threads BLAS threads.
* no_final  : the same with `final_assign=False` (no separate assignment pass: the labels are the last update pass's,
              the centres their means; inertia of those labels against those centres).
* reference : ours with 1 thread (the previous computation: the same result).
* sklearn : `sklearn.cluster.MiniBatchKMeans.partial_fit` over the same float32 chunks read from the memmap (one
            mini-batch step per chunk, same number of epochs as ours' update passes), then a chunked `predict` pass.
            (`MiniBatchKMeans.fit` on the whole pool would first copy it to float32: 5.9 GB.)

Reported per variant: time per full assignment pass, total time, peak traced heap (tracemalloc) and the process
ru_maxrss (which also counts the touched pages of the memory-mapped file), inertia / n and ARI against the truth.
Targets: <= 60 s on 2 cores with the inertia of the previous implementation (relative tolerance 1e-3), bounded memory.
faiss (not installed) would be the faster option on many cores/GPU.

    OMP_NUM_THREADS=1 python bench/bench_kmeans.py [--threads 2] [--variants ours,no_final,reference,sklearn] [--n 1280000] [--passes 3]
"""
import argparse, os, resource, sys, time, tracemalloc
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
import numpy as np

BENCH_DIR = os.environ.get('ALIGN_NB_BENCH_DIR', '/work/cache/bench')  # big synthetic files (never in the repository)


def synthetic_store(n=1_280_000, dim=1152, k=500, sep=0.25, seed=0, cache_dir=BENCH_DIR, chunk=65536):
    "A cached float16 `FeatureStore` of synthetic clustered features and its true labels (n,)."
    from align_nb.features import FeatureStore
    os.makedirs(cache_dir, exist_ok=True)
    base = os.path.join(cache_dir, f'synth_n{n}_d{dim}_k{k}_sep{sep}_s{seed}')
    rng = np.random.default_rng(seed)
    cent = rng.normal(0, sep, (k, dim)).astype(np.float32)
    truth = rng.integers(0, k, n)
    if not os.path.exists(base + '.npy'):
        t = time.perf_counter()
        def chunks():
            r = np.random.default_rng([seed, 1])
            for s in range(0, n, chunk):
                x = r.standard_normal((min(chunk, n - s), dim), dtype=np.float32); x += cent[truth[s:s + chunk]]
                yield x
        FeatureStore.write(base + '.npy', chunks(), n=n, progress=False)
        print(f'  (wrote synthetic features {n} x {dim} float16 in {time.perf_counter() - t:.1f} s: {base}.npy)')
    return FeatureStore(base + '.npy'), truth


def sklearn_chunked(store, k, passes, chunk, seed):
    "MiniBatchKMeans.partial_fit over float32 chunks for `passes` epochs, then a chunked predict pass."
    from sklearn.cluster import MiniBatchKMeans
    t0 = time.perf_counter(); km = MiniBatchKMeans(k, random_state=seed, n_init=1, batch_size=chunk)
    order = np.random.default_rng(seed).permutation((len(store) + chunk - 1) // chunk)  # chunk order shuffled per run
    for _ in range(passes):
        for c in order:
            km.partial_fit(np.asarray(store.data[c * chunk:(c + 1) * chunk], np.float32))
    t1 = time.perf_counter(); labels = np.empty(len(store), np.int64); inertia = 0.0
    for s in range(0, len(store), chunk):
        x = np.asarray(store.data[s:s + chunk], np.float32)
        labels[s:s + chunk] = km.predict(x)
        inertia += float(((x - km.cluster_centers_[labels[s:s + chunk]]) ** 2).sum())
    t2 = time.perf_counter()
    return labels, dict(total_s=t2 - t0, assign_pass_s=t2 - t1, inertia=inertia)


def _kmeans(store, k, passes, chunk, seed, threads, final_assign=True):
    from align_nb.triplets import kmeans
    c0 = time.process_time()
    labels, C, info = kmeans(store, k, seed=seed, chunked=True, n_iter=passes, chunk=chunk, tol=0, return_info=True, progress=False, threads=threads,
                             final_assign=final_assign)
    u = info['update_passes']
    return labels, dict(cpu_s=time.process_time() - c0, total_s=info['total_s'], assign_pass_s=info['pass_s'][-1] if final_assign else 0.0,
                        update_pass_s=float(np.mean(info['pass_s'][:u])), init_s=info['init_s'], inertia=info['inertia'][-1],
                        inertia_means=info['inertia_means'])

# inertia / n of the previous implementation (kmeans_chunked, float32 products, 3 update passes + 1 assignment pass, seed 0)
# on the default synthetic set: deterministic, from `--variants reference` (bench/README.md)
REFERENCE_INERTIA_PER_N = 1181.192


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=1_280_000); ap.add_argument('--dim', type=int, default=1152)
    ap.add_argument('--k', type=int, default=500); ap.add_argument('--passes', type=int, default=3, help='update passes (epochs) over the data')
    ap.add_argument('--chunk', type=int, default=32768); ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--variants', default='ours,no_final', help="comma list of ours (defaults, --threads BLAS threads), no_final "
                    "(final_assign=False, --threads), reference (ours with 1 thread: the previous computation), sklearn (MiniBatchKMeans)")
    ap.add_argument('--threads', type=int, default=2, help='BLAS threads of ours and no_final')
    ap.add_argument('--cache-dir', default=BENCH_DIR)
    a = ap.parse_args(argv)
    from sklearn.metrics import adjusted_rand_score
    store, truth = synthetic_store(a.n, a.dim, a.k, cache_dir=a.cache_dir)
    print(f'k-means k={a.k} on {a.n} x {a.dim} float16 (memmap), {a.passes} update passes (+ 1 assignment pass, except no_final), chunk {a.chunk}, '
          f'OMP_NUM_THREADS={os.environ.get("OMP_NUM_THREADS")}, ours: {a.threads} thread(s); load average {os.getloadavg()[0]:.1f}', flush=True)
    fns = dict(ours=lambda *z: _kmeans(*z, a.threads), no_final=lambda *z: _kmeans(*z, a.threads, False), reference=lambda *z: _kmeans(*z, 1),
               sklearn=sklearn_chunked); res = {}
    import torch, scipy.sparse, threadpoolctl  # one-off imports (torch: 1-5 s) outside the timed variants, so the first variant does not pay them
    tracemalloc.start()
    for name in a.variants.split(','):
        tracemalloc.reset_peak(); base = tracemalloc.get_traced_memory()[0]
        la0 = os.getloadavg()[0]; labels, r = fns[name](store, a.k, a.passes, a.chunk, a.seed); r['load'] = f'{la0:.1f}-{os.getloadavg()[0]:.1f}'
        r['peak_heap_gb'] = (tracemalloc.get_traced_memory()[1] - base) / 2**30
        r['maxrss_gb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        r['ari'] = adjusted_rand_score(truth, labels); res[name] = r
        extra = f'  update pass {r["update_pass_s"]:6.1f} s  init {r["init_s"]:5.1f} s' if 'update_pass_s' in r else ''
        cpu = f' (process CPU {r["cpu_s"]:.1f} s)' if 'cpu_s' in r else ''
        print(f'  {name:9s} load {r["load"]:9s} total {r["total_s"]:7.1f} s{cpu}  assignment pass {r["assign_pass_s"]:6.1f} s{extra}  '
              f'peak heap {r["peak_heap_gb"]:.2f} GB  maxrss {r["maxrss_gb"]:.2f} GB  inertia/n {r["inertia"] / a.n:.2f}  ARI {r["ari"]:.4f}', flush=True)
    ref, src = (res['reference']['inertia'] / a.n, 'reference, this run') if 'reference' in res else \
        (REFERENCE_INERTIA_PER_N, 'recorded, bench/README.md') if (a.n, a.dim, a.k, a.passes, a.seed) == (1_280_000, 1152, 500, 3, 0) else (None, None)
    for v in ('ours', 'no_final'):
        if v in res and ref is not None:
            o = res[v]['inertia'] / a.n
            print(f'  {v} inertia/n {o:.3f} vs the previous computation {ref:.3f} ({src}): relative difference {(o - ref) / ref:+.2e} '
                  f'(tolerance 1e-3);  total {res[v]["total_s"]:.1f} s (target <= 60 s on 2 idle cores)')
    for other in ('no_final', 'reference', 'sklearn'):
        if other in res and 'ours' in res: print(f'  ratio {other}/ours total time: {res[other]["total_s"] / res["ours"]["total_s"]:.2f}')
    print(f'  load average {os.getloadavg()[0]:.1f}')
    return res


if __name__ == '__main__':
    main()

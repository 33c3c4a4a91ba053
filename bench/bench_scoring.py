"""Benchmark: odd-one-out scoring (align_nb.evaluate.odd_one_out_predictions) vs a per-triplet loop and a bare floor, one run.

THINGS-sized problem: 4.7M random triplets over 1,854 items with 1,152-d random features (SigLIP So400m width).
* ours  : `evaluate.odd_one_out_predictions(X, items, 'cosine')` (what `odd_one_out_accuracy` runs): normalise, similarity
          matrix, then per cache-sized chunk gather the three pair similarities and compare (the matrix is in the time).
* floor : bare matrix multiply and gather: `Xn @ Xn.T` of the already normalised features and three `take`s with
          precomputed flat indices (no checks, no comparison): what any matrix-based method must pay.
* loop  : the three cosines of each triplet with numpy dot products, odd one out picked in python; run on a
          subsample and extrapolated per triplet.
* two-step: the previous route `predict_odd(triplet_similarities(similarity_matrix(X), items, 'precomputed'))`.
Predictions must be identical: ours vs two-step on all triplets, ours vs the loop on the subsample.

    python bench/bench_scoring.py [--n 4700000] [--loop-n 20000] [--threads 1]
"""
import argparse, os, time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=4_700_000, help='triplets scored by the vectorised path')
    ap.add_argument('--loop-n', type=int, default=20_000, help='triplets scored by the per-triplet loop')
    ap.add_argument('--items', type=int, default=1854)
    ap.add_argument('--dim', type=int, default=1152)
    ap.add_argument('--threads', type=int, default=1, help='BLAS/OpenMP threads (set before numpy is imported)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--rounds', type=int, default=3, help='interleaved timing rounds (best time of each path is reported)')
    a = ap.parse_args()
    for v in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'): os.environ[v] = str(a.threads)
    import numpy as np
    from align_nb.evaluate import similarity_matrix, triplet_similarities, predict_odd, odd_one_out_predictions

    rng = np.random.default_rng(a.seed)
    X = rng.normal(size=(a.items, a.dim)).astype(np.float32)
    # random triplets of three different items
    items = rng.integers(0, a.items, size=(a.n, 3))
    same = (items[:, 0] == items[:, 1]) | (items[:, 0] == items[:, 2]) | (items[:, 1] == items[:, 2])
    while same.any():
        items[same] = rng.integers(0, a.items, size=(int(same.sum()), 3))
        same = (items[:, 0] == items[:, 1]) | (items[:, 0] == items[:, 2]) | (items[:, 1] == items[:, 2])

    sub = items[:a.loop_n]
    Xl = [x for x in X]

    def vectorised(): return odd_one_out_predictions(X, items, 'cosine')

    def two_step(): return predict_odd(triplet_similarities(similarity_matrix(X, 'cosine'), items, 'precomputed'))

    Xn = X / np.linalg.norm(X, axis=1)[:, None]; n = a.items
    flat_idx = [np.ascontiguousarray(items[:, p] * n + items[:, q]) for p, q in ((0, 1), (0, 2), (1, 2))]
    def floor():  # bare matrix multiply + gather
        f = (Xn @ Xn.T).ravel()
        return [f.take(fi) for fi in flat_idx]

    def loop():  # plain per-triplet loop (same float32 features, cosine per pair, ties -> -1)
        out = []
        for i, j, k in sub.tolist():
            xi, xj, xk = Xl[i], Xl[j], Xl[k]
            ni, nj, nk = np.sqrt(np.dot(xi, xi)), np.sqrt(np.dot(xj, xj)), np.sqrt(np.dot(xk, xk))
            s = [np.dot(xi, xj) / (ni * nj), np.dot(xi, xk) / (ni * nk), np.dot(xj, xk) / (nj * nk)]
            m = max(s)
            out.append(-1 if s.count(m) > 1 else 2 - s.index(m))
        return np.array(out)

    # interleaved rounds so that load from other processes hits both alike; best time of each
    t_vec, t_loop, t_floor, t_two, ratios, fratios = [], [], [], [], [], []
    for _ in range(a.rounds):
        t0 = time.perf_counter(); pred = vectorised(); t_vec.append(time.perf_counter() - t0)
        t0 = time.perf_counter(); floor(); t_floor.append(time.perf_counter() - t0)
        t0 = time.perf_counter(); pred2 = two_step(); t_two.append(time.perf_counter() - t0)
        t0 = time.perf_counter(); loop_pred = loop(); t_loop.append(time.perf_counter() - t0)
        ratios.append((a.n / t_vec[-1]) / (len(sub) / t_loop[-1])); fratios.append(t_vec[-1] / t_floor[-1])
    t_vec, t_loop, t_floor, t_two = min(t_vec), min(t_loop), min(t_floor), min(t_two)

    vec_rate = a.n / t_vec
    loop_rate = len(sub) / t_loop
    agree = int((loop_pred == pred[:len(sub)]).sum())
    print(f'problem: {a.n:,} triplets over {a.items:,} items x {a.dim}-d float32 features, {a.threads} thread(s)')
    print(f'load average {os.getloadavg()[0]:.1f}; best of {a.rounds} interleaved rounds')
    print(f'ours (odd_one_out_predictions: matrix + chunked gather + compare): {t_vec:.3f} s for {a.n:,} triplets = {vec_rate:,.0f} triplets/s')
    print(f'floor (bare Xn @ Xn.T + 3 takes): {t_floor:.3f} s;  ours / floor = {t_vec / t_floor:.2f}x (per-round {min(fratios):.2f}-{max(fratios):.2f}x; target <= 2x)')
    print(f'two-step (similarity_matrix + triplet_similarities + predict_odd): {t_two:.3f} s = {t_two / t_vec:.2f}x ours;  '
          f'identical predictions on all {a.n:,}: {bool((pred2 == pred).all())}')
    print(f'per-triplet loop: {t_loop:.3f} s for {len(sub):,} triplets = {loop_rate:,.0f} triplets/s '
          f'(extrapolated to {a.n:,}: {a.n / loop_rate:.1f} s)')
    print(f'speed-up of ours over the loop: {vec_rate / loop_rate:.0f}x (best times; per-round ratios {min(ratios):.0f}x-{max(ratios):.0f}x; target >= 100x)')
    print(f'identical predictions on the subsample: {agree:,}/{len(sub):,}' + ('' if agree == len(sub) else '  MISMATCH'))
    print(f'ties in the vectorised predictions: {int((pred == -1).sum())}')
    return 0 if agree == len(sub) and (pred2 == pred).all() else 1


if __name__ == '__main__':
    raise SystemExit(main())

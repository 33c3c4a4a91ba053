"""Benchmark: the stimulus bootstrap of RSA scores (align_nb.evaluate) vs rsatoolbox's own resampling, side by side in one run.

Mur92-sized problem by default: a model RDM against 16 participant RDMs plus their pooled RDM over 92 stimuli (what
`rsa_report` compares), `--n-boot` resamples of the stimuli with replacement (seeded draws; both paths get the same draws).
* rsatoolbox: per draw `compare(a.subsample_pattern('index', idx), b.subsample_pattern('index', idx), method)`, the loop
              `rsa_report` and `compare_rdms` ran before (`_boot_compare(..., fast=False)`).
* ours      : `_boot_compare(...)` with its default shortcut `_PairBootstrap`: each resample is a weighted statistic over the
              original pairs (stimulus i drawn c_i times holds pair (i, j) c_i * c_j times), ranks from one sort per RDM.
The replicates must agree draw by draw (largest absolute difference printed); then the time of each and the ratio.

    python bench/bench_rsa_bootstrap.py [--n 92] [--subjects 16] [--n-boot 1000] [--method spearman] [--ties]
"""
import argparse, os, time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=92, help='stimuli')
    ap.add_argument('--subjects', type=int, default=16, help='participant RDMs (plus their pooled RDM)')
    ap.add_argument('--n-boot', type=int, default=1000, help='bootstrap resamples of the stimuli')
    ap.add_argument('--method', default='spearman', choices=['spearman', 'corr', 'cosine'])
    ap.add_argument('--ties', action='store_true', help='round the participant RDMs to 8 levels (rating-like data, many ties)')
    ap.add_argument('--threads', type=int, default=1, help='BLAS/OpenMP threads (set before numpy is imported)')
    ap.add_argument('--seed', type=int, default=0)
    a = ap.parse_args()
    for v in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'): os.environ[v] = str(a.threads)
    import numpy as np
    from rsatoolbox.rdm import RDMs
    from align_nb.evaluate import model_rdm, _boot_compare

    rng = np.random.default_rng(a.seed)
    Z = rng.normal(size=(a.n, 8))
    D = model_rdm(Z)
    H = []
    for _ in range(a.subjects):
        E = np.triu(rng.normal(size=D.shape) * 0.3, 1)
        h = D * np.exp(E + E.T); np.fill_diagonal(h, 0)  # multiplicative noise: positive, no tied values
        H.append(np.round(h * 4) / 4 if a.ties else h)
    H = np.stack(H)
    A, B = RDMs(model_rdm(Z + rng.normal(size=Z.shape))[None]), RDMs(np.concatenate([H.mean(0, keepdims=True), H]))
    print(f'{a.n} stimuli, 1 model RDM vs {B.n_rdm} RDMs (pooled + {a.subjects} participants), {a.n_boot} resamples, '
          f'method {a.method}{", tied ratings" if a.ties else ""}, {a.threads} thread(s)')
    t = time.process_time(); v_ref, b_ref = _boot_compare(A, B, a.method, a.n_boot, a.seed, fast=False); t_ref = time.process_time() - t
    t = time.process_time(); v_our, b_our = _boot_compare(A, B, a.method, a.n_boot, a.seed); t_our = time.process_time() - t
    diff = float(max(np.abs(v_ref - v_our).max(), np.abs(b_ref - b_our).max()))
    print(f'replicates kept: {len(b_ref)} (rsatoolbox) and {len(b_our)} (ours); largest absolute difference {diff:.2e}')
    print(f'{"path":<12}{"CPU s":>9}{"ms per resample":>17}')
    for name, s in (('rsatoolbox', t_ref), ('ours', t_our)):
        print(f'{name:<12}{s:>9.3f}{1e3 * s / max(len(b_ref), 1):>17.3f}')
    print(f'ratio rsatoolbox / ours: {t_ref / t_our:.1f}x (CPU time, one process, the same draws)')
    if len(b_ref) != len(b_our) or diff > 1e-9: raise SystemExit('the two paths disagree')


if __name__ == '__main__':
    main()

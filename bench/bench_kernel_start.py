"""Benchmark: a papermill job's kernel, warm (forked from a zygote with torch, torchvision and timm imported:
`align_nb.warmkernel`) vs cold (a fresh `python -m ipykernel_launcher`, what papermill starts by default).

Each round runs the same small notebook through `align_nb.runner.run_notebook` once cold and once warm (alternating,
so load changes hit both alike). The notebook does what a job's first cells do: import torch and timm, build a timm
model, run one batch. Prints seconds per job (wall; with one thread the kernel is the only busy process, so wall is
close to its CPU time), the ratio cold/warm, and the one-off cost of starting the zygote (the first warm job). The
notebook's result (the model's output sum, fixed seed) must be identical cold and warm.

    python bench/bench_kernel_start.py --rounds 5
"""
import argparse, os, shutil, sys, tempfile, time
from pathlib import Path
os.environ.setdefault('HF_HUB_OFFLINE', '1')

BODY = """import torch, timm
from align_nb.core import save_json
torch.manual_seed(0)
m = timm.create_model(model, num_classes=0).eval()
with torch.no_grad(): y = m(torch.randn(8, 3, 32, 32))
save_json(f'{run_dir}/metrics.json', {'sum': float(y.double().sum()), 'pid': __import__('os').getpid()})"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--rounds', type=int, default=5, help='jobs of each kind (after the zygote start)')
    ap.add_argument('--model', default='resnet10t', help='timm model the notebook builds (random init)')
    ap.add_argument('--threads', type=int, default=1, help='CPU threads per job (ALIGN_NB_THREADS)')
    ap.add_argument('--shared-zygote', action='store_true', help="use the warm-kernel folder's zygote (maybe already running) "
                    "instead of one of the benchmark's own (then the first warm job may not start one)")
    a = ap.parse_args(argv)
    os.environ['ALIGN_NB_THREADS'] = str(a.threads)
    import nbformat
    from align_nb.core import load_json
    from align_nb.runner import run_notebook, _demo_notebook
    from align_nb.warmkernel import WARM_ENV, DIR_ENV, stop_zygotes
    work = Path(tempfile.mkdtemp(prefix='anb-kb-'))
    if not a.shared_zygote: os.environ[DIR_ENV] = str(work / 'z')  # a zygote of this benchmark's own (started below, stopped at the end)
    nb = _demo_notebook(work / 'job.ipynb', BODY)
    book = nbformat.read(str(nb), as_version=4)
    book.cells[0].source += f"\nmodel = {a.model!r}"
    nbformat.write(book, str(nb))

    def job(kind, i):
        os.environ[WARM_ENV] = '1' if kind == 'warm' else '0'
        d = work / f'{kind}{i}'
        t = time.perf_counter()
        r = run_notebook(nb, d, {'x': i})
        dt = time.perf_counter() - t
        assert r['status'] == 'complete', r
        return dt, load_json(d / 'metrics.json')['sum']

    try:
        t_first, s_first = job('warm', -1)  # starts the zygote (its imports) and runs the first warm job
        times, sums = {'cold': [], 'warm': []}, {'cold': set(), 'warm': {s_first}}
        for i in range(a.rounds):
            for kind in ('cold', 'warm'):
                dt, s = job(kind, i); times[kind].append(dt); sums[kind].add(s)
        assert len(sums['cold'] | sums['warm']) == 1, f'results differ between kernels: {sums}'
        mean = {k: sum(v) / len(v) for k, v in times.items()}
        print(f'model={a.model} threads={a.threads} rounds={a.rounds} (same result in every job: {sums["cold"].pop():.6f})')
        print(f'cold kernel job : {mean["cold"]:6.2f} s per job (min {min(times["cold"]):.2f}, max {max(times["cold"]):.2f})')
        print(f'warm kernel job : {mean["warm"]:6.2f} s per job (min {min(times["warm"]):.2f}, max {max(times["warm"]):.2f})')
        print(f'first warm job ({"the shared zygote: started by it unless already running" if a.shared_zygote else "starts the zygote"}): {t_first:.2f} s')
        print(f'ratio cold/warm : {mean["cold"] / mean["warm"]:.2f}x; saved per job {mean["cold"] - mean["warm"]:.2f} s; '
              f'the zygote pays for itself after {t_first / max(mean["cold"] - mean["warm"], 1e-9):.1f} jobs')
    finally:
        if not a.shared_zygote: stop_zygotes()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()

"""Benchmark: `extract_features` (no cache; with a cache write) vs a bare `torch.no_grad(): model(x)` loop.

The bare loop runs over pre-made, already-normalised tensors; ours starts from the uint8 `ArrayImages` (so it
also pays for preprocessing, batching, the finite check and, with a cache, hashing + the memory-mapped write).
Prints throughput (images/s) of each and the ratio ours/bare (target >= 0.9). Best of `--reps` interleaved runs each.

    python bench/bench_features.py --model resnet10t --n 2048 --batch-size 256
"""
import argparse, os, sys, tempfile, time
os.environ.setdefault('HF_HUB_OFFLINE', '1')
import numpy as np
import torch


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--model', default='resnet10t', help='timm model name (random init)')
    ap.add_argument('--n', type=int, default=2048, help='number of images')
    ap.add_argument('--batch-size', type=int, default=256)
    ap.add_argument('--img-size', type=int, default=32, help='square image side (pixels)')
    ap.add_argument('--reps', type=int, default=3, help='timed repetitions per variant (best is reported)')
    ap.add_argument('--threads', type=int, default=1, help='torch threads')
    ap.add_argument('--device', default='cpu')
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    from align_nb.data import ArrayImages
    from align_nb.backbones import load_backbone, make_transform
    from align_nb.features import extract_features

    model = load_backbone(a.model).to(a.device)
    tf = make_transform(model, input_size=(3, a.img_size, a.img_size), crop_pct=1.0)
    ims = ArrayImages(np.random.default_rng(0).integers(0, 256, (a.n, a.img_size, a.img_size, 3), dtype=np.uint8))
    x_all = torch.stack([tf(ims[i]) for i in range(a.n)])  # pre-made tensors for the bare loop
    sync = (lambda: torch.cuda.synchronize()) if a.device.startswith('cuda') else (lambda: None)

    def bare():
        outs = []
        with torch.no_grad():
            for s in range(0, a.n, a.batch_size):
                outs.append(model(x_all[s:s + a.batch_size].to(a.device)).cpu())
        sync()
        return torch.cat(outs).numpy()

    def ours():
        return extract_features(model, ims, tf, batch_size=a.batch_size, device=a.device, progress=False)

    def ours_cache():
        with tempfile.TemporaryDirectory() as d:  # a fresh folder: always a cache write, never a hit
            f = extract_features(model, ims, tf, batch_size=a.batch_size, device=a.device, cache_dir=d, progress=False)
            f = np.array(f); return f

    fns = dict(bare=bare, ours=ours, cache=ours_cache)
    times, outs = {k: [] for k in fns}, {k: f() for k, f in fns.items()}  # warm-up
    for _ in range(a.reps):  # interleaved, so load changes on a shared machine hit every variant alike
        for k, f in fns.items():
            t = time.perf_counter(); f(); times[k].append(time.perf_counter() - t)
    (t_bare, f_bare), (t_ours, f_ours), (t_cache, f_cache) = [(min(times[k]), outs[k]) for k in fns]
    assert np.allclose(f_bare, f_ours, rtol=1e-4, atol=1e-5) and np.array_equal(f_ours, f_cache), 'features differ from the bare loop'
    print(f'model={a.model} n={a.n} batch={a.batch_size} img={a.img_size} threads={a.threads} device={a.device} dim={f_bare.shape[1]}')
    print(f'bare model(x) loop   : {a.n / t_bare:9.1f} img/s')
    print(f'extract_features     : {a.n / t_ours:9.1f} img/s   ratio ours/bare = {t_bare / t_ours:.3f}')
    print(f'  + cache write      : {a.n / t_cache:9.1f} img/s   ratio ours/bare = {t_bare / t_cache:.3f}')
    return t_bare / t_ours, t_bare / t_cache


if __name__ == '__main__':
    r, rc = main()
    sys.exit(0)

"""The toy recipe's distillation step, per default backbone, with and without the speed choices of the main job
(channels-last convolutions for the CNNs; the patch-8 toy ViT against the previous patch-4 one), timed side by side.

    OMP_NUM_THREADS=1 python bench/bench_toy_recipe.py [--rounds 8] [--batch 64] [--threads 1]

One step = the library's `Student` forward of 3 x batch 32-px images + triplet head + KL loss + `AdamDecayToInit`
update, as `distill()` runs it. Variants of one backbone alternate round by round (neither profits from going second);
each row prints the median process CPU seconds per step (robust on a shared machine: the wall clock also counts
other processes' time) and the median wall seconds, and the ratio to the row's reference variant.
"""
import argparse, statistics, time

VARIANTS = [  # (backbone, variant, timm name, model kwargs, channels_last, reference variant of the ratio)
    ('resnet', 'contiguous (before)', 'resnet10t', {}, False, None),
    ('resnet', 'channels_last (now)', 'resnet10t', {}, True, 'contiguous (before)'),
    ('regnet', 'contiguous (before)', 'regnetx_002', {}, False, None),
    ('regnet', 'channels_last (now)', 'regnetx_002', {}, True, 'contiguous (before)'),
    ('vit', 'patch 4, depth 4 (before)', 'vit_tiny_patch16_224', dict(img_size=32, patch_size=4, depth=4), False, None),
    ('vit', 'patch 8, depth 4 (now)', 'vit_tiny_patch16_224', dict(img_size=32, patch_size=8, depth=4), False, 'patch 4, depth 4 (before)'),
]

def make_step(name, model_kwargs, channels_last, batch=64, img=32, seed=0):
    "A closure doing one distillation update on fixed random images, as `distill()` does it."
    import torch
    from align_nb.distill import Student, AdamDecayToInit, triplet_logits, kl_loss
    torch.manual_seed(seed)
    st = Student(name, head_dim=256, model_kwargs=model_kwargs, seed=seed).train()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if channels_last: st.to(memory_format=torch.channels_last)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch * 3, 3, img, img, generator=g).contiguous(memory_format=fmt)
    s = torch.randn(batch, 3, generator=g)
    opt = AdamDecayToInit([p for p in st.parameters() if p.requires_grad], lr=1e-5, wd=1.0)
    def step():
        z = st(x).reshape(batch, 3, -1)
        loss = kl_loss(s, triplet_logits(z.float(), 10.0))
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
    return step

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--rounds', type=int, default=8); ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--batch', type=int, default=64, help='triplets per step (3x images)')
    ap.add_argument('--threads', type=int, default=1)
    a = ap.parse_args(argv)
    import os, torch
    torch.set_num_threads(a.threads)
    print(f'distillation step of the toy recipe: {a.batch} triplets = {3 * a.batch} images of 32 px, {a.threads} torch thread(s), '
          f'{a.rounds} timed rounds after {a.warmup} untimed; load average at start {os.getloadavg()[0]:.1f}')
    rows = []
    for bb in dict.fromkeys(v[0] for v in VARIANTS):
        vs = [v for v in VARIANTS if v[0] == bb]
        steps = {v[1]: make_step(v[2], v[3], v[4], a.batch) for v in vs}
        cpu, wall = {k: [] for k in steps}, {k: [] for k in steps}
        for r in range(a.warmup + a.rounds):
            order = list(steps) if r % 2 == 0 else list(steps)[::-1]
            for k in order:
                c0, w0 = time.process_time(), time.perf_counter(); steps[k](); c1, w1 = time.process_time(), time.perf_counter()
                if r >= a.warmup: cpu[k].append(c1 - c0); wall[k].append(w1 - w0)
        for v in vs:
            c, w = statistics.median(cpu[v[1]]), statistics.median(wall[v[1]])
            ref = statistics.median(cpu[v[5]]) if v[5] else None
            rows.append((bb, v[1], v[2], c, w, ref / c if ref else None))
    print(f"\n{'backbone':<8} {'variant':<27} {'timm model':<22} {'CPU s/step':>10} {'wall s/step':>11} {'speed-up (CPU)':>15}")
    for bb, var, name, c, w, sp in rows:
        print(f"{bb:<8} {var:<27} {name:<22} {c:>10.3f} {w:>11.3f} {('%.2fx' % sp) if sp else 'reference':>15}")
    print(f'load average at end {os.getloadavg()[0]:.1f}')
    return rows

if __name__ == '__main__':
    main()

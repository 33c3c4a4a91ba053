"""One distillation step (Student forward of 3B images + triplet head + loss + AdamDecayToInit step) against the bare
backbone forward + backward + torch.optim.Adam step on the same images and model, timed side by side (alternating rounds).

    python bench/bench_distill_step.py [--model resnet10t] [--img 32] [--batch 64] [--rounds 15] [--device cpu]

Prints the median and best time of each and the overhead ratio (distill / bare); the target is <= 1.15.
"""
import argparse, os, statistics, sys, time

def make_steps(model_name='resnet10t', img=32, batch=64, device='cpu', amp_bf16=False, model_kwargs=None, seed=0):
    "Two closures doing one update each on the same 3*batch images: (bare backbone + Adam, distillation step)."
    import torch, copy
    from align_nb.distill import Student, AdamDecayToInit, triplet_logits, kl_loss
    torch.manual_seed(seed)
    dev = torch.device(device)
    st = Student(model_name, head_dim=256, model_kwargs=model_kwargs or {}, seed=seed).to(dev).train()
    bare = copy.deepcopy(st.backbone).train()
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 3, 3, img, img, generator=g).to(dev)
    s = torch.randn(batch, 3, generator=g).to(dev)
    opt_bare = torch.optim.Adam([p for p in bare.parameters() if p.requires_grad], lr=1e-5)
    opt = AdamDecayToInit([p for p in st.parameters() if p.requires_grad], lr=1e-5, wd=1.0)
    ac = lambda: torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp_bf16)
    sync = torch.cuda.synchronize if dev.type == 'cuda' else (lambda: None)

    def bare_step():
        with ac():
            f = bare.forward_head(bare.forward_features(x.reshape(-1, *x.shape[2:])), pre_logits=True)
        loss = f.float().square().mean()
        opt_bare.zero_grad(set_to_none=True); loss.backward(); opt_bare.step(); sync()

    def distill_step():
        with ac():
            z = st(x.reshape(-1, *x.shape[2:])).reshape(batch, 3, -1)
        loss = kl_loss(s, triplet_logits(z.float(), 10.0))
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step(); sync()
    return bare_step, distill_step, st

def compare(bare_step, distill_step, rounds=15, warmup=2):
    "Alternate the two steps `rounds` times (after `warmup` untimed rounds); return {'bare': [...], 'distill': [...]} seconds."
    t = {'bare': [], 'distill': []}
    for r in range(warmup + rounds):
        pair = [('bare', bare_step), ('distill', distill_step)]
        if r % 2: pair.reverse()  # alternate the order: neither profits from going second
        for name, f in pair:
            t0 = time.perf_counter(); f(); dt = time.perf_counter() - t0
            if r >= warmup: t[name].append(dt)
    return t

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--model', default='resnet10t'); ap.add_argument('--img', type=int, default=32)
    ap.add_argument('--batch', type=int, default=64, help='triplets per step (3x images)')
    ap.add_argument('--rounds', type=int, default=15); ap.add_argument('--device', default='cpu')
    ap.add_argument('--threads', type=int, default=1); ap.add_argument('--amp-bf16', action='store_true')
    a = ap.parse_args(argv)
    import torch
    torch.set_num_threads(a.threads)
    bare_step, distill_step, _ = make_steps(a.model, a.img, a.batch, a.device, a.amp_bf16)
    t = compare(bare_step, distill_step, a.rounds)
    med = {k: statistics.median(v) for k, v in t.items()}; best = {k: min(v) for k, v in t.items()}
    print(f'{a.model} {a.img}px, {a.batch} triplets = {3 * a.batch} images/step, {a.device}, {a.threads} thread(s), {a.rounds} rounds')
    for k in ('bare', 'distill'):
        print(f'  {k:8s} median {med[k] * 1e3:8.1f} ms   best {best[k] * 1e3:8.1f} ms')
    print(f'  overhead ratio distill/bare: median {med["distill"] / med["bare"]:.3f}   best {best["distill"] / best["bare"]:.3f}   (target <= 1.15)')
    return med, best

if __name__ == '__main__':
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
    main()

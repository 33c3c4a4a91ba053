"""GPU check of the distillation: a ViT-B/16 student at bf16 on one GPU (images/s, peak memory, model-FLOP
utilisation), an end-to-end `distill()` run on synthetic images, and a 2-process torchrun smoke run when 2 GPUs are
visible. Without a GPU, or with --dry-run, the same code runs on CPU at tiny size (vit_tiny, 32 px, 2 steps).

    python bench/gpu_check.py [--dry-run] [--peak-tflops 989] [--batch 128] [--steps 20] [--compile] [--out DIR]

MFU counts model FLOPs analytically (2 per multiply-add; forward x3 for forward + backward) against the dense bf16
peak (`--peak-tflops`; H200/H100 SXM: ~989). ViT-B/16 at 224 px: ~17.6 GMACs = ~35 GFLOPs forward per image.
"""
import argparse, json, os, statistics, subprocess, sys, time
from pathlib import Path
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent)); sys.path.insert(0, str(HERE))
os.environ.setdefault('HF_HUB_OFFLINE', '1')

def vit_forward_flops(m) -> float:
    "Forward FLOPs per image of a timm VisionTransformer (matmuls only: patch embedding, qkv, attention, projection, MLP)."
    D = m.embed_dim; N = m.patch_embed.num_patches + getattr(m, 'num_prefix_tokens', 1); L = len(m.blocks)
    H = m.blocks[0].mlp.fc1.out_features; C = m.patch_embed.proj.in_channels; P = m.patch_embed.proj.kernel_size[0]
    per_block = 2 * N * D * 3 * D + 2 * 2 * N * N * D + 2 * N * D * D + 2 * 2 * N * D * H
    return float(2 * m.patch_embed.num_patches * C * P * P * D + L * per_block)

def synthetic(n_img, n_trip, size, seed=0):
    import numpy as np
    from align_nb.data import ArrayImages
    g = np.random.default_rng(seed)
    arr = g.integers(0, 256, (n_img, size, size, 3), dtype=np.uint8)
    t = np.array([g.choice(n_img, 3, replace=False) for _ in range(n_trip)])
    return ArrayImages(arr), t, g.normal(0, 1, (n_trip, 3)).astype(np.float32)

DDP_SCRIPT = '''
import sys, json; sys.path.insert(0, {root!r}); sys.path.insert(0, {here!r})
import gpu_check as G
from align_nb.distill import DistillConfig, distill
ims, t, s = G.synthetic(64, 256, {img})
cfg = DistillConfig.toy(steps=4, batch_size=16, warmup=1, head_dim=64, img_size={img}, amp_bf16=True, eval_every=4, checkpoint_every=2, num_workers=2, device='cuda')
met = distill({model!r}, ims, t[:224], s[:224], t[224:], s[224:], cfg, {out!r}, model_kwargs={{'img_size': {img}}}, progress=False)
import torch.distributed as dist; print('rank', dist.get_rank(), 'of', dist.get_world_size(), 'val_acc', met['val_acc']); dist.destroy_process_group()
'''

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--dry-run', action='store_true', help='tiny CPU run of the same code (also used when no GPU is visible)')
    ap.add_argument('--model', default='vit_base_patch16_224'); ap.add_argument('--img', type=int, default=224)
    ap.add_argument('--batch', type=int, default=128, help='triplets per step (3x images)')
    ap.add_argument('--steps', type=int, default=20, help='timed steps (after 5 untimed)')
    ap.add_argument('--peak-tflops', type=float, default=989.0, help='dense bf16 peak of one GPU, TFLOP/s')
    ap.add_argument('--compile', action='store_true', help='also time torch.compile of the student')
    ap.add_argument('--out', default=None, help='folder for gpu_check.json and the run folders (default: a temporary folder)')
    a = ap.parse_args(argv)
    import torch, tempfile
    dry = a.dry_run or not torch.cuda.is_available()
    if dry: a.model, a.img, a.batch, a.steps, warm, dev = 'vit_tiny_patch16_224', 32, 4, 2, 1, 'cpu'; torch.set_num_threads(1)
    else: warm, dev = 5, 'cuda'
    out = Path(a.out or tempfile.mkdtemp(prefix='gpu_check_')); out.mkdir(parents=True, exist_ok=True)
    mk = {'img_size': a.img}
    from bench_distill_step import make_steps
    res = {'dry_run': dry, 'device': torch.cuda.get_device_name() if not dry else 'cpu', 'model': a.model, 'img': a.img,
           'triplets_per_step': a.batch, 'images_per_step': 3 * a.batch, 'steps': a.steps, 'peak_tflops': a.peak_tflops}
    # 1) the training step alone (Student fwd of 3B images + head + KL + AdamDecayToInit), bf16 autocast, data on the device
    def timed(compile_=False):
        bare, step, st = make_steps(a.model, a.img, a.batch, dev, amp_bf16=True, model_kwargs=mk)
        if compile_:
            st.forward = torch.compile(st.forward)
        if dev == 'cuda': torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
        for _ in range(warm): step()
        ts = []
        for _ in range(a.steps):
            t0 = time.perf_counter(); step(); ts.append(time.perf_counter() - t0)
        return statistics.median(ts), st
    t_med, st = timed()
    flops_img = 3 * vit_forward_flops(st.backbone)
    ips = 3 * a.batch / t_med
    res.update(step_s_median=t_med, images_per_s=ips, train_flops_per_image=flops_img,
               mfu=ips * flops_img / (a.peak_tflops * 1e12),
               peak_mem_gib=torch.cuda.max_memory_allocated() / 2**30 if dev == 'cuda' else None)
    del st
    if a.compile and not dry:
        tc, st = timed(True); res.update(compiled_images_per_s=3 * a.batch / tc, compiled_mfu=3 * a.batch / tc * flops_img / (a.peak_tflops * 1e12)); del st
    # 2) end to end: distill() on synthetic images (DataLoader, PIL transform, evaluation, checkpoint, final files)
    from align_nb.distill import DistillConfig, distill
    n_img, n_trip, steps = (24, 40, 2) if dry else (512, 2000, 6)
    ims, t, s = synthetic(n_img, n_trip, a.img)
    B = a.batch if not dry else 4
    cfg = DistillConfig.toy(steps=steps, batch_size=B, warmup=1, head_dim=64, img_size=a.img, amp_bf16=True, eval_every=steps,
                            checkpoint_every=steps, num_workers=0 if dry else 12, device=dev)
    stamps = []
    t0 = time.perf_counter()
    met = distill(a.model, ims, t[:-32], s[:-32], t[-32:], s[-32:], cfg, out / 'distill_run', model_kwargs=mk, progress=False,
                  callback=lambda st_, row: stamps.append(time.perf_counter()))
    res.update(e2e_complete=met['complete'], e2e_seconds=time.perf_counter() - t0,
               e2e_images_per_s=3 * B * (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else None)
    # 3) 2-process torchrun smoke run when 2 GPUs are visible
    if not dry and torch.cuda.device_count() >= 2:
        (out / 'ddp_smoke.py').write_text(DDP_SCRIPT.format(root=str(HERE.parent), here=str(HERE), img=64, model=a.model, out=str(out / 'ddp_run')))
        p = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2', '--master_addr=127.0.0.1', '--master_port=29533',
                            str(out / 'ddp_smoke.py')], capture_output=True, text=True, timeout=300)
        res.update(ddp_smoke_rc=p.returncode, ddp_smoke_tail=(p.stdout + p.stderr)[-1500:])
    else: res['ddp_smoke_rc'] = None
    (out / 'gpu_check.json').write_text(json.dumps(res, indent=1))
    if dry: print('DRY RUN (CPU, tiny size): the numbers below only show that the code path works')
    print(f"{res['device']}: {a.model} {a.img}px bf16, {3 * a.batch} images/step: {ips:.1f} images/s, step {t_med * 1e3:.1f} ms, "
          f"MFU {res['mfu']:.1%} of {a.peak_tflops:g} TFLOP/s ({flops_img / 1e9:.1f} GFLOP/image fwd+bwd), "
          f"peak memory {res['peak_mem_gib'] if res['peak_mem_gib'] is None else round(res['peak_mem_gib'], 2)} GiB")
    if 'compiled_images_per_s' in res: print(f"  torch.compile: {res['compiled_images_per_s']:.1f} images/s, MFU {res['compiled_mfu']:.1%}")
    print(f"  distill() end to end: {res['e2e_images_per_s'] or float('nan'):.1f} images/s, complete={met['complete']}, {res['e2e_seconds']:.1f} s")
    print(f"  torchrun 2-GPU smoke: {'not run (fewer than 2 GPUs)' if res['ddp_smoke_rc'] is None else 'rc ' + str(res['ddp_smoke_rc'])}")
    print(f'  results: {out / "gpu_check.json"}')
    return 0 if res['ddp_smoke_rc'] in (None, 0) and met['complete'] else 1

if __name__ == '__main__':
    sys.exit(main())

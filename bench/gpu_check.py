"""GPU check for a short device window: one table of the distillation's speed on one GPU, and the projected time of
the paper's run. Random-init weights (nothing from the internet). Bounded by --budget-s (default 420 s) in total.

    python bench/gpu_check.py [--budget-s 420] [--peak-tflops 989] [--out DIR]     # needs a CUDA GPU
    python bench/gpu_check.py --dry-run [--out DIR]                                  # the same code, tiny, on CPU

Rows (one table, also written to DIR/gpu_check.json and DIR/gpu_check.csv):
  features   ViT-B/16 at 224 px, bf16 autocast, inference: images/s (compute only, images already on the GPU)
  distill    one step of the paper's batch (512 triplets = 1,536 images: Student forward + triplet head + KL + backward
             + AdamDecayToInit) with bf16 autocast, one row per speed option the distill code supports:
             plain (SDPA, torch's backend choice) | SDPA flash only | attention without SDPA (timm's manual path) |
             activation (gradient) checkpointing | torch.compile | compile + checkpointing | the optimiser replaced by
             torch.optim.Adam(fused=True) (a reference: how much of the step the optimiser takes)
  e2e        align_nb.distill.distill() end to end on synthetic 224 px images (DataLoader + PIL transform + step + eval)
  ddp        a 2-process torchrun smoke run of distill() (only when 2+ GPUs are visible)

Columns: images/s, step ms (median of the timed steps), model TFLOP/s achieved, MFU = achieved / --peak-tflops (dense
bf16 peak of the card: H100/H200 SXM 989), peak memory (GiB, torch.cuda.max_memory_allocated), and for distill rows the
projected wall time of ONE paper run (100k steps x 512 triplets) on 1, 2, 4 and 8 GPUs:
    hours(k) = steps x step_s / (k x e_k) / 3600,   e_1 = 1, e_k = --dp-efficiency (default 0.9, an assumption, not measured)
(data-parallel over k GPUs, each taking 1,536 / k images; compute only: the input pipeline is the e2e row). The paper's
study is 8 such runs (4 students x 2 variants). Model FLOPs are counted analytically (matmuls, 2 per multiply-add;
training = 3x forward); activation checkpointing recomputes the forward, which MFU does not count.
A row that runs out of memory says 'OOM' and the check goes on.
"""
import argparse, csv, json, math, os, signal, statistics, subprocess, sys, tempfile, time
from pathlib import Path
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent)); sys.path.insert(0, str(HERE))
os.environ.setdefault('HF_HUB_OFFLINE', '1')

PAPER_TRIPLETS, PAPER_STEPS, GPU_COUNTS = 512, 100_000, (1, 2, 4, 8)
COLUMNS = ['section', 'option', 'status', 'images_per_step', 'images_per_s', 'step_ms', 'tflops', 'mfu', 'peak_mem_gib',
           'proj_h_1gpu', 'proj_h_2gpu', 'proj_h_4gpu', 'proj_h_8gpu', 'note']
DISTILL_OPTIONS = [  # name, options (the order runs the cheap ones first; compile last)
    ('plain', {}),
    ('sdpa flash only', {'sdpa': 'flash'}),
    ('no sdpa (manual attention)', {'sdpa': 'off'}),
    ('activation checkpointing', {'ckpt': True}),
    ('fused torch Adam (reference)', {'opt': 'adam_fused'}),
    ('torch.compile', {'compile': True}),
    ('torch.compile + checkpointing', {'compile': True, 'ckpt': True}),
]

class Budget(Exception):
    "Raised (by SIGALRM) when the global time budget is spent."

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

def sdpa_context(mode, model):
    "A factory of the attention kernel choice: None (torch decides), 'flash' (flash kernel only), 'off' (timm's non-SDPA attention)."
    import contextlib
    n = 0
    for mod in model.modules():
        if hasattr(mod, 'fused_attn'): mod.fused_attn = mode != 'off'; n += 1
    if mode is not None and n == 0: raise RuntimeError(f'sdpa={mode!r}: the model has no timm attention module with fused_attn')
    if mode == 'flash':
        from torch.nn.attention import sdpa_kernel, SDPBackend
        return lambda: sdpa_kernel([SDPBackend.FLASH_ATTENTION])
    return contextlib.nullcontext

def make_distill_step(model_name, img, batch, dev, model_kwargs, sdpa=None, ckpt=False, compile=False, opt='decay_to_init', seed=0):
    "(step closure, student, sdpa context) doing distill()'s training step on `batch` triplets held on the device."
    import torch
    from align_nb.distill import Student, AdamDecayToInit, triplet_logits, kl_loss
    torch.manual_seed(seed)
    st = Student(model_name, head_dim=256, model_kwargs=model_kwargs, seed=seed).to(dev).train()
    if ckpt: st.backbone.set_grad_checkpointing(True)
    params = [p for p in st.parameters() if p.requires_grad]
    o = AdamDecayToInit(params, lr=1e-5, wd=1.0) if opt == 'decay_to_init' else torch.optim.Adam(params, lr=1e-5, fused=dev.type == 'cuda')
    net = torch.compile(st) if compile else st
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 3, 3, img, img, generator=g).to(dev); s = torch.randn(batch, 3, generator=g).to(dev)
    sync = torch.cuda.synchronize if dev.type == 'cuda' else (lambda: None)
    ctx = sdpa_context(sdpa, st)
    def step():
        with ctx(), torch.autocast(dev.type, dtype=torch.bfloat16):
            z = net(x.reshape(-1, *x.shape[2:])).reshape(batch, 3, -1)
        loss = kl_loss(s, triplet_logits(z.float(), 10.0))
        o.zero_grad(set_to_none=True); loss.backward(); o.step(); sync()
    return step, st

def time_steps(step, warm, steps, deadline):
    "Median seconds of up to `steps` timed calls after `warm` untimed ones; stops early (>= 1 timed) at `deadline`."
    for _ in range(warm): step()
    ts = []
    while len(ts) < steps and (not ts or time.time() < deadline):
        t0 = time.perf_counter(); step(); ts.append(time.perf_counter() - t0)
    return statistics.median(ts), len(ts)

def project(step_s, steps, eff):
    "Hours of one paper run on k GPUs (data-parallel, efficiency eff for k > 1)."
    return {f'proj_h_{k}gpu': steps * step_s / (k * (1.0 if k == 1 else eff)) / 3600 for k in GPU_COUNTS}

def fmt(v, k):
    if v is None or (isinstance(v, float) and math.isnan(v)): return '-'
    if k == 'mfu': return f'{v:.1%}'
    if isinstance(v, float): return f'{v:.3g}' if abs(v) < 1000 else f'{v:,.0f}'
    return str(v)

def print_table(rows, head):
    print(head)
    cols = [c for c in COLUMNS if c != 'note']
    w = {c: max(len(c), *(len(fmt(r.get(c), c)) for r in rows)) for c in cols}
    print('  '.join(c.ljust(w[c]) for c in cols) + '  note')
    for r in rows: print('  '.join(fmt(r.get(c), c).ljust(w[c]) for c in cols) + '  ' + (r.get('note') or ''))

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--dry-run', action='store_true', help='the same code on CPU at a tiny size (vit_tiny, 32 px, 4 triplets, 2 steps)')
    ap.add_argument('--budget-s', type=float, default=420.0, help='total time budget in seconds (rows are skipped or cut short to keep it)')
    ap.add_argument('--peak-tflops', type=float, default=989.0, help='dense bf16 peak of the card, TFLOP/s (H100/H200 SXM: 989)')
    ap.add_argument('--triplets', type=int, default=PAPER_TRIPLETS, help='triplets per distillation step (paper: 512 = 1,536 images)')
    ap.add_argument('--steps', type=int, default=10, help='timed steps per row (after 2 untimed; fewer when the budget runs out)')
    ap.add_argument('--feature-batch', type=int, default=256, help='images per forward pass of the feature row')
    ap.add_argument('--paper-steps', type=int, default=PAPER_STEPS, help='steps of the projected run')
    ap.add_argument('--dp-efficiency', type=float, default=0.9, help='assumed data-parallel efficiency on 2-8 GPUs (not measured)')
    ap.add_argument('--skip', default='', help='comma-separated row options to skip (e.g. "torch.compile + checkpointing")')
    ap.add_argument('--out', default=None, help='folder for gpu_check.json / gpu_check.csv and run folders (default: a temporary folder)')
    a = ap.parse_args(argv)
    t_start = time.time()
    import torch
    if not a.dry_run and not torch.cuda.is_available():
        print('gpu_check: no CUDA GPU is visible (torch.cuda.is_available() is False); run it on a GPU machine, '
              'or pass --dry-run for the tiny CPU run of the same code', file=sys.stderr)
        return 2
    dry = a.dry_run
    if dry:
        model, img, B, fb, warm, steps, dev, mk = 'vit_tiny_patch16_224', 32, 4, 8, 1, 2, torch.device('cpu'), {'img_size': 32}
        torch.set_num_threads(1)
    else:
        model, img, B, fb, warm, steps, dev, mk = 'vit_base_patch16_224', 224, a.triplets, a.feature_batch, 2, a.steps, torch.device('cuda'), {}
        torch.backends.cuda.matmul.allow_tf32 = True; torch.backends.cudnn.allow_tf32 = True
    out = Path(a.out or tempfile.mkdtemp(prefix='gpu_check_')); out.mkdir(parents=True, exist_ok=True)
    deadline = t_start + a.budget_s
    def on_alarm(*_): raise Budget()
    signal.signal(signal.SIGALRM, on_alarm); signal.setitimer(signal.ITIMER_REAL, max(1.0, a.budget_s - (time.time() - t_start)))
    skip = {s.strip() for s in a.skip.split(',') if s.strip()}
    rows = []
    dev_name = torch.cuda.get_device_name() if dev.type == 'cuda' else 'cpu'
    import timm
    flops_fwd = vit_forward_flops(timm.create_model(model, pretrained=False, num_classes=0, **mk))

    def run_row(section, option, fn, n_left):
        "Run fn(row deadline) -> dict; OOM, errors and the budget become the row's status."
        row = {'section': section, 'option': option, 'status': 'ok'}
        now = time.time()
        if option in skip: row.update(status='skipped', note='--skip'); rows.append(row); return row
        if now >= deadline: row.update(status='skipped', note='time budget spent'); rows.append(row); return row
        if dev.type == 'cuda': torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
        try: row.update(fn(now + (deadline - now) / max(1, n_left)))
        except Budget: row.update(status='stopped', note='time budget spent during this row')
        except torch.cuda.OutOfMemoryError: row.update(status='OOM', note=f'out of memory at {row.get("images_per_step") or "this"} images per step')
        except Exception as e: row.update(status='error', note=f'{type(e).__name__}: {str(e)[:200]}')
        if dev.type == 'cuda': row['peak_mem_gib'] = torch.cuda.max_memory_allocated() / 2**30
        rows.append(row)
        import gc; gc.collect()
        if dev.type == 'cuda': torch.cuda.empty_cache()
        return row

    # 1) feature extraction: ViT-B/16 224 px, bf16 autocast, inference
    def features(row_deadline):
        torch.manual_seed(0)
        m = timm.create_model(model, pretrained=False, num_classes=0, **mk).to(dev).eval()
        x = torch.rand(fb, 3, img, img, generator=torch.Generator().manual_seed(0)).to(dev)
        sync = torch.cuda.synchronize if dev.type == 'cuda' else (lambda: None)
        def step():
            with torch.inference_mode(), torch.autocast(dev.type, dtype=torch.bfloat16): m(x)
            sync()
        t, n = time_steps(step, warm, steps, row_deadline)
        ips = fb / t
        return {'images_per_step': fb, 'images_per_s': ips, 'step_ms': t * 1e3, 'tflops': ips * flops_fwd / 1e12,
                'mfu': ips * flops_fwd / (a.peak_tflops * 1e12), 'note': f'{n} timed batches; forward {flops_fwd / 1e9:.1f} GFLOP/image'}
    run_row('features', f'{model} {img}px bf16 inference', features, 2 + len(DISTILL_OPTIONS))

    # 2) one distillation step of the paper's batch per speed option
    for i, (name, opt) in enumerate(DISTILL_OPTIONS):
        def distill_row(row_deadline, opt=opt):
            if opt.get('compile') and dev.type != 'cuda': return {'status': 'skipped', 'note': 'torch.compile: CUDA only (as in DistillConfig.compile)'}
            step, st = make_distill_step(model, img, B, dev, mk, sdpa=opt.get('sdpa'), ckpt=opt.get('ckpt', False), compile=opt.get('compile', False),
                                         opt=opt.get('opt', 'decay_to_init'))
            t0 = time.time(); step(); first = time.time() - t0  # includes compilation for compiled rows
            t, n = time_steps(step, warm - 1, steps, row_deadline)
            ips = 3 * B / t; fl = 3 * flops_fwd
            return {'images_per_step': 3 * B, 'images_per_s': ips, 'step_ms': t * 1e3, 'tflops': ips * fl / 1e12, 'mfu': ips * fl / (a.peak_tflops * 1e12),
                    **project(t, a.paper_steps, a.dp_efficiency), 'note': f'{n} timed steps; first step {first:.1f} s'}
        run_row('distill', name, distill_row, 1 + len(DISTILL_OPTIONS) - i)

    # 3) distill() end to end on synthetic images (the fastest setting that fitted, without compile)
    ok = [r for r in rows if r['section'] == 'distill' and r['status'] == 'ok' and 'compile' not in r['option']]
    ckpt = bool(ok) and min(ok, key=lambda r: r['step_ms'])['option'] == 'activation checkpointing' or not any(r['option'] == 'plain' for r in ok)
    def e2e(row_deadline):
        from align_nb.distill import DistillConfig, distill
        n_img, n_trip, st_n = (24, 40, 2) if dry else (4 * B, 3 * B, 3)
        ims, t, s = synthetic(n_img, n_trip, img)
        cfg = DistillConfig.toy(steps=st_n, batch_size=B, warmup=1, head_dim=256, img_size=img, amp_bf16=True, eval_every=st_n, checkpoint_every=st_n,
                                num_workers=0 if dry else min(16, os.cpu_count() or 1), device=dev.type, grad_checkpointing=ckpt and not dry)
        stamps = []
        import shutil; shutil.rmtree(out / 'distill_run', ignore_errors=True)  # a fresh run every time
        t0 = time.time()
        met = distill(model, ims, t[:-32], s[:-32], t[-32:], s[-32:], cfg, out / 'distill_run', model_kwargs=mk, progress=False, resume=False,
                      callback=lambda st_, row: stamps.append(time.perf_counter()))
        r = {'images_per_step': 3 * B, 'note': f'{st_n} steps, complete={met["complete"]}, {time.time() - t0:.1f} s in all; grad checkpointing {cfg.grad_checkpointing}'}
        if len(stamps) > 1:
            sp = (stamps[-1] - stamps[0]) / (len(stamps) - 1)
            r.update(images_per_s=3 * B / sp, step_ms=sp * 1e3, **project(sp, a.paper_steps, a.dp_efficiency))
        return r
    run_row('e2e', 'distill() on synthetic images', e2e, 1)

    # 4) 2-process torchrun smoke run when 2 GPUs are visible
    def ddp(row_deadline):
        from align_nb.launch import launch
        sz = 64
        m = launch('gpu_check:ddp_task', {'out': str(out / 'ddp_run'), 'img': sz, 'model': model}, out, name='ddp_smoke', nproc_per_node=2,
                   env={'PYTHONPATH': os.pathsep.join([str(HERE), str(HERE.parent), os.environ.get('PYTHONPATH', '')])},
                   timeout=max(10, row_deadline - time.time()), force=True)
        return {'note': f'2 ranks, val_acc {m["result"]["val_acc"]:.3f}, {m["seconds"]} s'}
    if dev.type == 'cuda' and torch.cuda.device_count() >= 2: run_row('ddp', 'torchrun 2 GPUs', ddp, 1)
    else: rows.append({'section': 'ddp', 'option': 'torchrun 2 GPUs', 'status': 'skipped', 'note': 'fewer than 2 GPUs visible'})
    signal.setitimer(signal.ITIMER_REAL, 0)

    res = {'dry_run': dry, 'device': dev_name, 'model': model, 'img': img, 'triplets_per_step': B, 'images_per_step': 3 * B, 'peak_tflops': a.peak_tflops,
           'paper_steps': a.paper_steps, 'dp_efficiency_assumed': a.dp_efficiency, 'budget_s': a.budget_s, 'seconds': round(time.time() - t_start, 1),
           'torch': torch.__version__, 'timm': timm.__version__, 'columns': COLUMNS, 'rows': rows}
    (out / 'gpu_check.json').write_text(json.dumps(res, indent=1, default=str))
    with open(out / 'gpu_check.csv', 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS); w.writeheader(); w.writerows([{c: r.get(c) for c in COLUMNS} for r in rows])
    head = (('DRY RUN (CPU, tiny size: vit_tiny 32 px, 4 triplets): the numbers only show that the code path works\n' if dry else '') +
            f'{dev_name} | {model} {img}px | bf16 autocast | distill step = {B} triplets = {3 * B} images | MFU against {a.peak_tflops:g} TFLOP/s dense bf16 | '
            f'proj_h_kgpu = hours of one {a.paper_steps:,}-step run on k GPUs = steps x step_ms / (k x e), e = {a.dp_efficiency} assumed for k > 1 '
            f'(8 runs in the paper: 4 students x 2 variants) | {res["seconds"]} s of {a.budget_s:g} s budget')
    print_table(rows, head)
    print(f'results: {out / "gpu_check.json"}, {out / "gpu_check.csv"}')
    bad = [r for r in rows if r['status'] in ('error', 'stopped')]
    return 1 if bad or not any(r['section'] == 'distill' and r['status'] == 'ok' for r in rows) else 0

def ddp_task(out, img, model):
    "Launched by the ddp row on every rank: a few distill() steps under torchrun (NCCL)."
    from align_nb.distill import DistillConfig, distill
    ims, t, s = synthetic(64, 256, img)
    cfg = DistillConfig.toy(steps=4, batch_size=16, warmup=1, head_dim=64, img_size=img, amp_bf16=True, eval_every=4, checkpoint_every=2, num_workers=2, device='cuda')
    met = distill(model, ims, t[:224], s[:224], t[224:], s[224:], cfg, out, model_kwargs={'img_size': img}, progress=False, resume=False)
    return {'val_acc': met['val_acc'], 'complete': met['complete']}

if __name__ == '__main__':
    sys.exit(main())

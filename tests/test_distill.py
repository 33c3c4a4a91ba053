"""Tests of align_nb.distill: losses, temperature, head, decay to init, schedule, data, resume, a small distillation."""
import os
os.environ['HF_HUB_OFFLINE'] = '1'
import json, math
from pathlib import Path
import numpy as np
import pytest
import torch

torch.set_num_threads(1)

from align_nb.core import AlignNbError, is_complete, load_json
from align_nb.data import ArrayImages, FileImages
from align_nb.distill import (DistillConfig, Student, AdamDecayToInit, TripletImages, triplet_logits, kl_loss, jsd_loss,
                              pair01_accuracy, warmup_cosine, triplet_order, distill, load_student, student_transform,
                              evaluate_triplets, read_log)

# ---------------------------------------------------------------- losses

def test_triplet_logits_are_unnormalised_dot_products_over_tau():
    z = torch.tensor([[[1., 2.], [3., 0.], [0., -1.]]])
    # z0.z1 = 3, z0.z2 = -2, z1.z2 = 0
    assert torch.allclose(triplet_logits(z, 1.0), torch.tensor([[3., -2., 0.]]))
    assert torch.allclose(triplet_logits(z, 4.0), torch.tensor([[0.75, -0.5, 0.]]))

def test_kl_and_jsd_on_a_hand_computed_triplet():
    # teacher sims [ln 2, 0, 0] -> p = [1/2, 1/4, 1/4]; student z all equal dots 0 -> q uniform
    ts = torch.tensor([[math.log(2), 0., 0.]], dtype=torch.float64)
    z = torch.tensor([[[1., 0.], [0., 1.], [0., 0.]]], dtype=torch.float64)  # dots: 0, 0, 0
    lg = triplet_logits(z, 1.0)
    kl = 0.5 * math.log(0.5 / (1/3)) + 2 * 0.25 * math.log(0.25 / (1/3))  # = 0.5 ln 1.125
    assert kl_loss(ts, lg).item() == pytest.approx(kl, abs=1e-12)
    assert kl == pytest.approx(0.5 * math.log(1.125))
    m = [5/12, 7/24, 7/24]
    jsd = 0.5 * (0.5 * math.log(0.5 / m[0]) + 2 * 0.25 * math.log(0.25 / m[1])) + 0.5 * (1/3 * math.log((1/3) / m[0]) + 2/3 * math.log((1/3) / m[1]))
    assert jsd_loss(ts, lg).item() == pytest.approx(jsd, abs=1e-12)
    # batch mean: a second row with loss 0 halves the mean
    ts2 = torch.cat([ts, torch.zeros(1, 3, dtype=torch.float64)]); lg2 = torch.cat([lg, torch.zeros(1, 3, dtype=torch.float64)])
    assert kl_loss(ts2, lg2).item() == pytest.approx(kl / 2, abs=1e-12)
    assert jsd_loss(ts2, lg2).item() == pytest.approx(jsd / 2, abs=1e-12)

def test_kl_direction_is_teacher_to_student():
    p = torch.tensor([[math.log(2), 0., 0.]], dtype=torch.float64); q = torch.zeros(1, 3, dtype=torch.float64)
    # KL(q||p) with q uniform = sum 1/3 ln((1/3)/p_i) differs from KL(p||q)
    rev = (1/3) * math.log((1/3) / 0.5) + 2 * (1/3) * math.log((1/3) / 0.25)
    assert kl_loss(p, q).item() == pytest.approx(0.5 * math.log(1.125)) and kl_loss(p, q).item() != pytest.approx(rev)

def test_losses_are_zero_when_p_equals_q():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(5, 3, generator=g, dtype=torch.float64)
    shifted = s + torch.randn(5, 1, generator=g, dtype=torch.float64)  # softmax is shift-invariant: same q
    assert kl_loss(s, shifted).item() == pytest.approx(0, abs=1e-12)
    assert jsd_loss(s, shifted).item() == pytest.approx(0, abs=1e-12)
    assert kl_loss(s, s.flip(1)).item() > 1e-3

def test_larger_tau_gives_flatter_q_and_the_hand_computed_loss():
    z = torch.tensor([[[2., 0.], [2., 0.], [0., 1.]]], dtype=torch.float64)  # dots: 4, 0, 0
    uniform = torch.zeros(1, 3, dtype=torch.float64)
    # logits [a, 0, 0]; KL(uniform || q) = ln(e^a + 2) - a/3 - ln 3
    hand = lambda a: math.log(math.exp(a) + 2) - a / 3 - math.log(3)
    l4, l2 = kl_loss(uniform, triplet_logits(z, 4.0)).item(), kl_loss(uniform, triplet_logits(z, 2.0)).item()
    assert l4 == pytest.approx(hand(1.0), abs=1e-12) and l2 == pytest.approx(hand(2.0), abs=1e-12)
    assert l4 < l2  # tau 4 -> flatter q -> closer to the uniform teacher
    q4 = torch.softmax(triplet_logits(z, 4.0), -1)[0]
    assert q4[0].item() == pytest.approx(math.e / (math.e + 2))

def test_pair01_accuracy_counts_ties_as_wrong():
    l = np.array([[3., 1., 2.], [2., 2., 0.], [1., 1., 1.], [0., 1., 0.]])
    assert pair01_accuracy(l) == 0.25

# ---------------------------------------------------------------- schedule

def test_warmup_cosine_values():
    f = lambda s: warmup_cosine(s, 100, 10, 2.0)
    assert f(0) == 0.0 and f(5) == pytest.approx(1.0) and f(10) == pytest.approx(2.0)
    assert f(40) == pytest.approx(2.0 * 0.5 * (1 + math.cos(math.pi / 3)))  # 1/3 through the cosine: 1.5
    assert f(55) == pytest.approx(1.0) and f(100) == pytest.approx(0.0, abs=1e-15)
    assert warmup_cosine(0, 10, 0, 1.0) == 1.0

# ---------------------------------------------------------------- optimiser

def test_decay_to_init_with_zero_gradient_moves_toward_init_not_zero():
    lr, wd = 0.1, 0.5
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0, 3.0])); u = torch.nn.Parameter(torch.tensor([4.0, 5.0]))
    opt = AdamDecayToInit([w, u], lr=lr, wd=wd)
    init_w = w.detach().clone()
    with torch.no_grad(): w.copy_(torch.tensor([2.0, -4.0, 3.0]))  # u stays at init
    before = w.detach().clone()
    w.grad = torch.zeros(3); u.grad = torch.zeros(2)
    opt.step()
    assert torch.allclose(w.detach(), before - lr * wd * (before - init_w), atol=0, rtol=1e-7)
    assert w.detach().tolist() == pytest.approx([2.0 - 0.05, -4.0 + 0.1, 3.0])
    assert u.detach().tolist() == [4.0, 5.0]  # at its init: not decayed toward zero
    # a parameter without gradient is treated as a zero gradient
    w.grad = None; opt.step()
    assert w.detach()[0].item() == pytest.approx(1.95 - lr * wd * 0.95)

def test_adam_part_matches_torch_adam_and_decay_adds_after_scaling():
    g = torch.Generator().manual_seed(1)
    a = torch.nn.Parameter(torch.randn(6, generator=g)); b = torch.nn.Parameter(a.detach().clone())
    o1, o2 = AdamDecayToInit([a], lr=1e-2, wd=0.0), torch.optim.Adam([b], lr=1e-2, eps=1e-8)
    for _ in range(5):
        grad = torch.randn(6, generator=g)
        a.grad, b.grad = grad.clone(), grad.clone(); o1.step(); o2.step()
    assert torch.allclose(a, b, atol=1e-7)
    # first step with gradient: Adam part = g / (|g| + eps); decay term is added before the lr
    p = torch.nn.Parameter(torch.tensor([1.0, 1.0])); opt = AdamDecayToInit([p], lr=0.1, wd=2.0, init=[torch.tensor([0.0, 2.0])])
    p.grad = torch.tensor([0.5, -0.25]); opt.step()
    assert p.detach().tolist() == pytest.approx([1.0 - 0.1 * (1.0 + 2.0 * 1.0), 1.0 - 0.1 * (-1.0 + 2.0 * -1.0)], abs=1e-6)

def test_student_head_decays_toward_its_own_init():
    s = Student('resnet10t', head_dim=4, seed=3)
    opt = AdamDecayToInit(s.parameters(), lr=0.1, wd=1.0)
    h0 = s.head.weight.detach().clone()
    assert h0.abs().sum() > 0
    for p in s.parameters(): p.grad = torch.zeros_like(p)
    opt.step()
    assert torch.equal(s.head.weight.detach(), h0)  # at init: unchanged, although far from zero

# ---------------------------------------------------------------- student and data

def test_head_output_dim_and_one_backbone_batch_of_3B():
    s = Student('resnet10t', head_dim=7)
    assert s.head.in_features == s.feat_dim == 512 and s.head.out_features == 7
    calls = []
    s.backbone.conv1.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    z = s.embed_triplets(torch.rand(5, 3, 3, 16, 16))
    assert z.shape == (5, 3, 7) and calls == [15]
    assert s(torch.rand(2, 3, 16, 16)).shape == (2, 7) and s.features(torch.rand(2, 3, 16, 16)).shape == (2, 512)

def test_triplet_order_is_a_permutation_per_epoch_and_deterministic():
    rows = np.concatenate([triplet_order(12, 4, 5, s) for s in range(3)])
    assert sorted(rows.tolist()) == list(range(12))
    assert np.array_equal(triplet_order(12, 4, 5, 4), triplet_order(12, 4, 5, 4))
    assert not np.array_equal(triplet_order(12, 12, 5, 0), triplet_order(12, 12, 6, 0))

def test_triplet_images_errors_name_row_and_image(tmp_path):
    from PIL import Image
    paths = []
    for i in range(4):
        p = tmp_path / f'im{i}.png'; Image.fromarray(np.full((8, 8, 3), i * 40, np.uint8)).save(p); paths.append(p)
    (tmp_path / 'bad.png').write_bytes(b'not an image'); paths.append(tmp_path / 'bad.png')
    paths.append(tmp_path / 'missing.png')
    ims = FileImages(paths, check=False)
    ds = TripletImages(ims, [[0, 1, 2], [0, 3, 5], [1, 4, 2]], [[0., 0., 0.]] * 3, transform=student_transform(None, 8, '01'))
    x, s = ds[0]
    assert x.shape == (3, 3, 8, 8) and x.max() <= 1 and x.min() >= 0
    with pytest.raises(FileNotFoundError, match=r'row 1 \(position 2\), image index 5'): ds[1]
    with pytest.raises(AlignNbError, match=r'row 2 \(position 1\), image index 4'): ds[2]
    with pytest.raises(AlignNbError, match='row 1: image index out of range'): TripletImages(ims, [[0, 1, 2], [0, 1, 6]])
    with pytest.raises(AlignNbError, match=r'shape \(1, 3\)'): TripletImages(ims, [[0, 1, 2]], [[0., 0.]])


# ---------------------------------------------------------------- distillation runs

def brightness_task(n_img=48, n_trip=400, size=16, seed=0):
    "Images of random brightness; teacher similarity -4*|brightness difference|; odd one out last."
    g = np.random.default_rng(seed)
    b = g.uniform(0, 1, n_img)
    arr = np.clip(b[:, None, None, None] * 255 + g.normal(0, 10, (n_img, size, size, 3)), 0, 255).astype(np.uint8)
    t = np.array([g.choice(n_img, 3, replace=False) for _ in range(n_trip)])
    sims = lambda t: np.stack([-4 * np.abs(b[t[:, i]] - b[t[:, j]]) for i, j in ((0, 1), (0, 2), (1, 2))], 1)
    order = np.array([[0, 1, 2], [0, 2, 1], [1, 2, 0]])[sims(t).argmax(1)]
    t = np.take_along_axis(t, order, 1)
    return ArrayImages(arr), t, sims(t).astype(np.float32)

def _weights(d):
    bb = torch.load(Path(d) / 'student_backbone.pth', weights_only=True); hd = torch.load(Path(d) / 'student_head.pth', weights_only=True)
    return {**{'bb.' + k: v for k, v in bb.items()}, **{'head.' + k: v for k, v in hd.items()}}

def _same(a, b): return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

RESUME_CFG = dict(steps=6, batch_size=8, lr=1e-3, warmup=2, tau=10., head_dim=8, checkpoint_every=2, eval_every=3, wd=0.5)

class Stop(Exception): pass

def test_resume_after_interruption_gives_identical_weights(tmp_path):
    ims, t, s = brightness_task(n_img=20, n_trip=60)
    cfg = DistillConfig.toy(**RESUME_CFG)
    kw = dict(model_kwargs={'drop_rate': 0.3}, progress=False)  # dropout: the RNG state must be restored too
    ref = distill('resnet10t', ims, t[:50], s[:50], t[50:], s[50:], cfg, tmp_path / 'a', **kw)
    # interrupted by an exception after step 3 (last checkpoint at step 2)
    def boom(step, row):
        if step == 3: raise Stop()
    with pytest.raises(Stop): distill('resnet10t', ims, t[:50], s[:50], t[50:], s[50:], cfg, tmp_path / 'b', callback=boom, **kw)
    assert not is_complete(tmp_path / 'b') and (tmp_path / 'b' / 'checkpoint.pt').is_file()
    assert torch.load(tmp_path / 'b' / 'checkpoint.pt', weights_only=True)['step'] == 2  # tensors and plain types only
    seen = []
    met = distill('resnet10t', ims, t[:50], s[:50], t[50:], s[50:], cfg, tmp_path / 'b', callback=lambda st, r: seen.append(st), **kw)
    assert seen == [3, 4, 5, 6]  # resumed at the checkpoint: no step lost, none repeated in the weights
    assert _same(_weights(tmp_path / 'a'), _weights(tmp_path / 'b'))
    assert met['val_acc'] == ref['val_acc'] and met['val_loss'] == ref['val_loss']
    log = [json.loads(l) for l in (tmp_path / 'b' / 'log.jsonl').read_text().splitlines()]
    assert [r['step'] for r in log if 'loss' in r] == [1, 2, 3, 4, 5, 6]
    assert [r['step'] for r in log if 'val_acc' in r] == [0, 3, 6]
    # stopped by max_steps_this_call after 4 steps, then finished
    part = distill('resnet10t', ims, t[:50], s[:50], t[50:], s[50:], cfg, tmp_path / 'c', max_steps_this_call=5, **kw)
    assert part['complete'] is False and part['step'] == 5 and not is_complete(tmp_path / 'c')
    distill('resnet10t', ims, t[:50], s[:50], t[50:], s[50:], cfg, tmp_path / 'c', **kw)
    assert _same(_weights(tmp_path / 'a'), _weights(tmp_path / 'c'))
    assert is_complete(tmp_path / 'c') and not (tmp_path / 'c' / 'checkpoint.pt').exists()

def test_complete_folder_returns_metrics_and_refuses_other_settings(tmp_path):
    ims, t, s = brightness_task(n_img=20, n_trip=40)
    cfg = DistillConfig.toy(**{**RESUME_CFG, 'steps': 2, 'warmup': 1})
    met = distill('resnet10t', ims, t[:30], s[:30], t[30:], s[30:], cfg, tmp_path, progress=False)
    def never(step, row): raise AssertionError('trained again')
    again = distill('resnet10t', ims, t[:30], s[:30], t[30:], s[30:], cfg, tmp_path, progress=False, callback=never)
    assert again == load_json(tmp_path / 'metrics.json') and again['val_acc'] == met['val_acc']
    with pytest.raises(AlignNbError, match='different settings'):
        distill('resnet10t', ims, t[:30], s[:30], t[30:], s[30:], DistillConfig.toy(**{**RESUME_CFG, 'steps': 2, 'warmup': 1, 'lr': 0.1}), tmp_path, progress=False)
    # an unfinished checkpoint with other data is refused too
    with pytest.raises(Stop):
        distill('resnet10t', ims, t[:30], s[:30], t[30:], s[30:], DistillConfig.toy(**RESUME_CFG), tmp_path / 'x', progress=False,
                callback=lambda st, r: (_ for _ in ()).throw(Stop()) if st == 2 else None)
    with pytest.raises(AlignNbError, match='different settings or data'):
        distill('resnet10t', ims, t[:30], s[:30] * 2, t[30:], s[30:], DistillConfig.toy(**RESUME_CFG), tmp_path / 'x', progress=False)

def test_saved_backbone_is_timm_loadable_and_input_module_unchanged(tmp_path):
    import timm
    ims, t, s = brightness_task(n_img=20, n_trip=40)
    base = timm.create_model('resnet10t', num_classes=5)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    distill(base, ims, t[:30], s[:30], t[30:], s[30:], DistillConfig.toy(**{**RESUME_CFG, 'steps': 2, 'warmup': 1}), tmp_path, progress=False)
    assert _same(before, base.state_dict())  # the caller's module was copied, not trained in place
    meta = json.loads((tmp_path / 'student_backbone.json').read_text())
    assert meta['timm_name'] == 'resnet10t' and meta['model_kwargs'] == {'num_classes': 5}
    m = timm.create_model(meta['timm_name'], pretrained=False, **meta['model_kwargs'])
    m.load_state_dict(torch.load(tmp_path / 'student_backbone.pth', weights_only=True), strict=True)
    assert not _same(before, m.state_dict())  # trained
    st = load_student(tmp_path).eval(); m.eval()
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad(): assert torch.equal(st.features(x), m.forward_head(m.forward_features(x), pre_logits=True))
    from align_nb.backbones import load_backbone_file  # the same loader as every other backbone file
    lb = load_backbone_file(tmp_path / 'student_backbone.pth')
    with torch.no_grad(): assert torch.equal(st.features(x), lb.forward_head(lb.forward_features(x), pre_logits=True))
    met = load_json(tmp_path / 'metrics.json')
    assert {'val_acc', 'val_loss', 'val_acc_initial', 'train_loss_first', 'train_loss_last'} <= met.keys()

def test_bad_triplets_are_refused_with_the_row(tmp_path):
    ims, t, s = brightness_task(n_img=20, n_trip=40)
    bad = t.copy(); bad[7, 1] = 99
    with pytest.raises(AlignNbError, match='training triplets: row 7: image index out of range'):
        distill('resnet10t', ims, bad, s, t, s, DistillConfig.toy(**RESUME_CFG), tmp_path, progress=False)
    sb = s.copy(); sb[3, 2] = np.nan
    with pytest.raises(AlignNbError, match='non-finite.*row 3'):
        distill('resnet10t', ims, t, s, t, sb, DistillConfig.toy(**RESUME_CFG), tmp_path, progress=False)

def test_distillation_on_easy_task_lowers_loss_and_raises_val_accuracy(tmp_path):
    ims, t, s = brightness_task()
    cfg = DistillConfig.toy(steps=30, batch_size=16, lr=3e-3, warmup=3, tau=10., head_dim=16, checkpoint_every=10, eval_every=10, wd=0.1)
    met = distill('resnet10t', ims, t[:300], s[:300], t[300:], s[300:], cfg, tmp_path, progress=False)
    assert met['train_loss_last'] < 0.5 * met['train_loss_first']
    assert met['val_loss'] < met['val_loss_initial']
    assert met['val_acc'] >= met['val_acc_initial'] + 0.2 and met['val_acc'] >= 0.75
    st = load_student(tmp_path)
    r = evaluate_triplets(st, ims, t[300:], s[300:], student_transform(st, None, 'model'), tau=10.)
    assert r['val_acc'] == pytest.approx(met['val_acc'])
    log = read_log(tmp_path)
    assert log.loss.notna().sum() == 30 and log.loc[log.step == 0, 'dot_std'].iloc[0] > 0

def test_student_from_a_module_keeps_its_create_kwargs_so_the_saved_backbone_reloads(tmp_path):
    from align_nb.backbones import load_backbone, load_backbone_file
    ims, t, s = brightness_task(n_img=20, n_trip=40)
    base = load_backbone('vit_tiny_patch16_224', img_size=16, patch_size=4, depth=1)  # not timm's default architecture
    cfg = DistillConfig.toy(**{**RESUME_CFG, 'steps': 1, 'warmup': 1})
    distill(base, ims, t[:30], s[:30], t[30:], s[30:], cfg, tmp_path, progress=False)
    lb = load_backbone_file(tmp_path / 'student_backbone.pth')  # strict: a depth-12 rebuild would fail here
    st = load_student(tmp_path).eval()
    x = torch.rand(2, 3, 16, 16)
    with torch.no_grad(): assert torch.equal(st.features(x), lb.forward_head(lb.forward_features(x), pre_logits=True))

# ---- the GPU speed options on CPU (same run with gradient checkpointing / channels_last; bf16 autocast)
from helpers import (DDP_CFG as CFG, DDP_VIT as VIT, ddp_close as close, ddp_losses as losses,
                     ddp_task as task, ddp_weights as weights)

def test_grad_checkpointing_and_channels_last_give_the_same_run(tmp_path):
    ims, t, s = task()
    cfg = dict(CFG, steps=2, checkpoint_every=2, eval_every=2)
    a = distill('vit_tiny_patch16_224', ims, t[:40], s[:40], t[40:], s[40:], DistillConfig.toy(**cfg), tmp_path / 'a', model_kwargs=VIT, progress=False)
    b = distill('vit_tiny_patch16_224', ims, t[:40], s[:40], t[40:], s[40:], DistillConfig.toy(**cfg, grad_checkpointing=True), tmp_path / 'b', model_kwargs=VIT, progress=False)
    assert a['run_key'] == b['run_key']  # a runtime option: same weights, so the same run
    np.testing.assert_allclose(losses(tmp_path / 'a'), losses(tmp_path / 'b'), atol=1e-6, rtol=0)
    assert close(weights(tmp_path / 'a'), weights(tmp_path / 'b'))
    # channels_last on a convolutional net: same losses and weights (up to float rounding)
    c = distill('resnet10t', ims, t[:40], s[:40], t[40:], s[40:], DistillConfig.toy(**cfg), tmp_path / 'c', progress=False)
    d = distill('resnet10t', ims, t[:40], s[:40], t[40:], s[40:], DistillConfig.toy(**cfg, channels_last=True), tmp_path / 'd', progress=False)
    np.testing.assert_allclose(losses(tmp_path / 'c'), losses(tmp_path / 'd'), atol=1e-5, rtol=0)
    assert close(weights(tmp_path / 'c'), weights(tmp_path / 'd'), atol=1e-4)

def test_bf16_autocast_runs_on_cpu_close_to_float32_and_compile_needs_cuda(tmp_path):
    ims, t, s = task()
    cfg = dict(CFG, steps=1, checkpoint_every=1, eval_every=1)
    a = distill('vit_tiny_patch16_224', ims, t[:40], s[:40], t[40:], s[40:], DistillConfig.toy(**cfg), tmp_path / 'a', model_kwargs=VIT, progress=False)
    b = distill('vit_tiny_patch16_224', ims, t[:40], s[:40], t[40:], s[40:], DistillConfig.toy(**cfg, amp_bf16=True), tmp_path / 'b', model_kwargs=VIT, progress=False)
    assert a['run_key'] != b['run_key']  # bf16 changes the numbers: another run
    la, lb = losses(tmp_path / 'a')[0], losses(tmp_path / 'b')[0]
    assert la != lb and lb == pytest.approx(la, rel=0.05)
    with pytest.raises(AlignNbError, match='compile=True needs a CUDA device'):
        distill('resnet10t', ims, t[:40], s[:40], t[40:], s[40:], DistillConfig.toy(**cfg, compile=True), tmp_path / 'c', progress=False)

def test_grad_checkpointing_on_a_model_without_it_is_a_clear_error(tmp_path):
    ims, t, s = task()
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    net.num_features = 4  # a plain module: no timm set_grad_checkpointing
    with pytest.raises(AlignNbError, match='grad_checkpointing'):
        distill(net, ims, t[:40], s[:40], t[40:], s[40:], DistillConfig.toy(**dict(CFG, steps=1), grad_checkpointing=True), tmp_path, progress=False)

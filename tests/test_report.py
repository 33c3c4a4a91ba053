"Any model on any human-similarity data through the public API, each score against an independent computation."
import bz2, gzip, json, warnings, zipfile
from pathlib import Path
import numpy as np, pandas as pd, pytest
from align_nb.core import AlignNbError
from align_nb.data import AnchoredTriplets, Trials, FileImages, to_rgb
from align_nb.evaluate import anchored_accuracy, anchored_report, odd_one_out_accuracy, triplet_similarities
from align_nb.realdata import load_rdms, load_triplet_table

# ---------- anchored triplets ----------

def _anchored(rng, n_items, n):
    a = rng.integers(0, n_items, (n * 2, 3))
    a = a[(a[:, 0] != a[:, 1]) & (a[:, 0] != a[:, 2]) & (a[:, 1] != a[:, 2])]
    return a[:n]

def test_anchored_accuracy_equals_a_brute_force_loop():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 5)); A = _anchored(rng, 30, 500)
    for metric in ('cosine', 'dot'):
        def sim(i, j):
            a, b = X[i], X[j]
            return a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) if metric == 'cosine' else a @ b
        brute = np.array([sim(r, c) > sim(r, o) for r, c, o in A])
        assert np.array_equal(anchored_accuracy(X, AnchoredTriplets(A), metric), brute)
        assert abs(anchored_report(X, AnchoredTriplets(A), metric, n_boot=20)['accuracy'] - brute.mean()) < 1e-12

def test_anchored_ties_are_wrong_and_ceiling_by_hand():
    X = np.array([[1., 0], [1, 0], [1, 0], [0, 1]])
    assert anchored_accuracy(X, [[0, 1, 2]], 'dot').tolist() == [False]
    # question (0 | 1, 3) answered 1,1,3 -> majority 2/3; question (2 | 1, 3) answered 3,3,3,1 -> 3/4
    at = AnchoredTriplets(np.array([[0, 1, 3], [0, 1, 3], [0, 3, 1], [2, 3, 1], [2, 3, 1], [2, 3, 1], [2, 1, 3]]))
    r = anchored_report(X, at, 'dot', n_boot=50)
    assert abs(r['noise_ceiling'] - (2 / 3 + 3 / 4) / 2) < 1e-12 and r['ci_over'] == 'questions' and r['chance'] == 0.5

def test_odd_one_out_refuses_anchored_and_vice_versa():
    X = np.eye(4)
    with pytest.raises(AlignNbError, match='anchored_accuracy'): odd_one_out_accuracy(X, AnchoredTriplets(np.array([[0, 1, 2]])))
    with pytest.raises(AlignNbError, match='odd_one_out_accuracy'): anchored_accuracy(X, Trials(np.array([[0, 1, 2]]), np.array([0])))

# ---------- one triplet similarity function ----------

def test_triplet_similarities_in_float64_match_a_hand_loop():
    "The one pair-similarity function (the teacher's former alias is gone): float64 cosine and dot, [s01, s02, s12]."
    rng = np.random.default_rng(0); X = rng.normal(size=(6, 3)); it = np.array([[0, 1, 2], [3, 4, 5]])
    cos = triplet_similarities(X, it, metric='cosine', dtype='float64')
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    assert cos.dtype == np.float64 and np.allclose(cos, [[Xn[i] @ Xn[j], Xn[i] @ Xn[k], Xn[j] @ Xn[k]] for i, j, k in it], atol=1e-12)
    hand = np.array([[X[i] @ X[j], X[i] @ X[k], X[j] @ X[k]] for i, j, k in it])
    assert np.allclose(triplet_similarities(X, it, 'dot', dtype='float64'), hand, atol=1e-12)

# ---------- RDM files as they come ----------

@pytest.fixture
def rdm():
    rng = np.random.default_rng(5)
    D = np.abs(rng.normal(size=(6, 6))); D = D + D.T; np.fill_diagonal(D, 0)
    return D, [f'stim{i}' for i in range(6)]

def test_load_rdms_label_column_and_row_with_placeholder_diagonal(tmp_path, rdm, capsys):
    D, names = rdm
    P = D.copy(); np.fill_diagonal(P, 9.99)
    pd.DataFrame(P, index=names, columns=names).to_csv(tmp_path / 'r.csv')
    with pytest.raises(AlignNbError, match=r'diagonal=9\.99'): load_rdms(tmp_path / 'r.csv')
    R, labels = load_rdms(tmp_path / 'r.csv', diagonal=9.99, return_labels=True)
    assert np.allclose(R[0], D) and labels == names
    out = capsys.readouterr().out
    assert 'header row' in out and 'stimulus labels' in out  # detection is said
    assert np.allclose(load_rdms(tmp_path / 'r.csv', diagonal='zero', verbose=False)[0], D)

def test_load_rdms_numeric_id_column_and_zip(tmp_path, rdm):
    D, _ = rdm
    np.savetxt(tmp_path / 'ids.txt', np.c_[np.arange(1, 7), D])
    with zipfile.ZipFile(tmp_path / 'ids.zip', 'w') as z: z.write(tmp_path / 'ids.txt', 'ids.txt')
    with pytest.raises(AlignNbError, match='index_col=0'): load_rdms(tmp_path / 'ids.zip', verbose=False)  # 6 x 7: an id column
    assert np.allclose(load_rdms(tmp_path / 'ids.zip', index_col=0, verbose=False)[0], D)

def test_load_rdms_similarity_ratings_on_any_scale(tmp_path, rdm):
    D, names = rdm
    S = 10 - 9 * D / D.max()  # ratings 1..10, 10 = identical
    np.fill_diagonal(S, 10)
    got = load_rdms(S, kind='similarity')[0]
    want = 10 - S; np.fill_diagonal(want, 0)
    assert np.allclose(got, want)
    S0 = S.copy(); np.fill_diagonal(S0, 0)
    want0 = 10 - S0; np.fill_diagonal(want0, 0)
    assert np.allclose(load_rdms(S0, kind='similarity', sim_max=10)[0], want0)
    with pytest.raises(AlignNbError, match='exceeds sim_max'): load_rdms(S, kind='similarity', sim_max=5)
    R, lab = load_rdms(pd.DataFrame(S, index=names, columns=names), kind='similarity', return_labels=True, verbose=False)
    assert np.allclose(R[0], want) and lab == names

def test_load_rdms_error_names_the_option(tmp_path, rdm):
    D, names = rdm
    with open(tmp_path / 'l.tsv', 'w') as f:
        for n, r in zip(names, D): f.write(n + '\t' + '\t'.join(map(repr, r)) + '\n')
    with pytest.raises(AlignNbError, match='index_col=0'): load_rdms(tmp_path / 'l.tsv', index_col=None)
    with pytest.raises(AlignNbError, match='kind="similarity"'): load_rdms(D + 3 * np.eye(6))

# ---------- triplet tables as they come ----------

def test_triplet_tables_compressed_and_json(tmp_path):
    rows = [[1, 2, 3, 3], [2, 3, 4, 3], [4, 1, 2, 4]]  # chosen item -> position 2, 1, 0
    want = Trials(np.array(rows)[:, :3] - 1, np.array([2, 1, 0]))
    txt = '\n'.join(','.join(map(str, r)) for r in rows) + '\n'
    (tmp_path / 't.csv').write_text(txt)
    with gzip.open(tmp_path / 't.csv.gz', 'wt') as f: f.write(txt)
    with bz2.open(tmp_path / 't.csv.bz2', 'wt') as f: f.write(txt)
    with zipfile.ZipFile(tmp_path / 't.zip', 'w') as z: z.writestr('t.csv', txt)
    recs = [dict(a=r[0], b=r[1], c=r[2], pick=r[3]) for r in rows]
    (tmp_path / 'r.json').write_text(json.dumps(recs))
    (tmp_path / 'c.json').write_text(json.dumps({k: [r[k] for r in recs] for k in 'a b c pick'.split()}))
    (tmp_path / 'l.jsonl').write_text('\n'.join(json.dumps(r) for r in recs))
    for f in ('t.csv', 't.csv.gz', 't.csv.bz2', 't.zip'):
        t = load_triplet_table(tmp_path / f, odd='item', odd_col=3, base=1)
        assert np.array_equal(t.items, want.items) and np.array_equal(t.odd, want.odd), f
    for f in ('r.json', 'c.json', 'l.jsonl'):
        t = load_triplet_table(tmp_path / f, ('a', 'b', 'c'), odd='item', odd_col='pick', base=1)
        assert np.array_equal(t.items, want.items) and np.array_equal(t.odd, want.odd), f
    (tmp_path / 'x.parquet').write_bytes(b'PAR1\x00')
    with pytest.raises(AlignNbError, match='unsupported table type'): load_triplet_table(tmp_path / 'x.parquet')

def test_vote_counts_and_anchored_tables(tmp_path):
    recs = [dict(head='1', closer='2', farther='3', n=3), dict(head='1', closer='3', farther='2', n=1), dict(head='4', closer='2', farther='1', n=0)]
    (tmp_path / 'v.json').write_text(json.dumps(recs))
    a = load_triplet_table(tmp_path / 'v.json', ('head', 'closer', 'farther'), base=1, task='anchored', count_col='n')
    assert a.task == 'anchored' and a.items.tolist() == [[0, 1, 2]] * 3 + [[0, 2, 1]]
    X = np.array([[1., 0], [1, 0.1], [0, 1], [0.5, 0.5]])
    r = anchored_report(X, a, 'dot', n_boot=20)
    assert abs(r['accuracy'] - 0.75) < 1e-12 and abs(r['noise_ceiling'] - 0.75) < 1e-12  # by hand: 3 of 4 say 'closer' = item 1

# ---------- layers, names, images ----------

def test_layers_by_name(tmp_path):
    import torch
    from align_nb.backbones import load_backbone, list_layers, make_transform
    from align_nb.features import extract_features
    from align_nb.data import ArrayImages
    m0, m3 = load_backbone('resnet10t'), load_backbone('resnet10t', num_classes=3)
    ims = ArrayImages(np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8))
    tf = make_transform(m0, input_size=(3, 32, 32), crop_pct=1.0)
    with pytest.raises(AlignNbError, match='no classifier'): extract_features(m0, ims, tf, layer='logits', progress=False)
    lg = extract_features(m3, ims, tf, layer='logits', progress=False)
    with torch.no_grad(): assert np.allclose(lg, m3(torch.stack([tf(ims[i]) for i in range(4)])).numpy(), atol=1e-5)
    l2 = extract_features(m0, ims, tf, layer='layer2', progress=False, cache_dir=tmp_path)
    assert l2.shape == (4, 128) and 'layer2' in list_layers(m0) and 'logits' not in list_layers(m0)
    pre = extract_features(m0, ims, tf, progress=False, cache_dir=tmp_path)
    assert len(list((tmp_path / 'features').glob('*.npy'))) == 2 and pre.shape == (4, 512)
    with pytest.raises(AlignNbError, match='layer1'): extract_features(m0, ims, tf, layer='layer9', progress=False)

def test_model_names_agree_and_suggest(shared_data):
    import torch
    from align_nb.backbones import load_backbone
    from align_nb.realdata import load_cifar_resnet
    a = load_backbone('cifar_resnet20', pretrained=True)
    b, _ = load_cifar_resnet('resnet20', shared_data / 'cifar_resnet' / 'resnet20-12fca82f.th')
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad(): assert torch.equal(a.forward_head(a.forward_features(x), pre_logits=True), b.forward_head(b.forward_features(x), pre_logits=True))
    with pytest.raises(AlignNbError, match='cifar_resnet56'): load_backbone('cifar_resnet65')
    r = load_backbone('random:cifar_resnet20')
    assert type(r) is type(a) and not torch.equal(r.conv1.weight, a.conv1.weight)

def test_transparent_images_and_resize_policy(tmp_path):
    from PIL import Image
    from align_nb.backbones import make_transform
    rgba = np.zeros((6, 6, 4), np.uint8); rgba[..., 1] = 255  # fully transparent green
    Image.fromarray(rgba).save(tmp_path / 'a.png')
    assert np.asarray(FileImages([tmp_path / 'a.png'])[0]).reshape(-1, 3).tolist() == [[255, 255, 255]] * 36
    assert np.asarray(FileImages([tmp_path / 'a.png'], background=(0, 0, 0))[0]).max() == 0
    cfg = dict(input_size=(3, 8, 8), interpolation='bilinear', mean=(0., 0, 0), std=(1., 1, 1), crop_pct=1.0, crop_mode='center')
    tall = Image.fromarray(np.zeros((16, 8, 3), np.uint8))  # black, 8 wide 16 high
    pad = make_transform(cfg, resize='pad')(tall).numpy()
    assert pad[:, :, 0].mean() > 0.99 and pad[:, :, 3:5].max() < 0.01  # white columns left and right, black centre
    assert make_transform(cfg, resize='squash')(tall).numpy().max() < 0.01

def test_pixel_baseline_is_the_raw_pixels():
    import torch
    from PIL import Image
    from align_nb.backbones import load_backbone, make_transform
    from align_nb.features import extract_features
    from align_nb.data import ArrayImages
    arr = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    m = load_backbone('pixels')
    f = extract_features(m, ArrayImages(arr), progress=False)
    assert np.allclose(f, arr.transpose(0, 3, 1, 2).reshape(3, -1) / 255.0, atol=1e-6)

# ---------- the report card ----------

def _toy_images(folder, n, rng):
    from PIL import Image
    folder.mkdir()
    cols = rng.integers(0, 256, (n, 3))
    for i, c in enumerate(cols):
        a = np.zeros((20, 30, 4), np.uint8); a[..., :3] = c; a[5:15, 5:25, 3] = 255  # RGBA, non-square
        Image.fromarray(a).save(folder / f'img{i:02d}.png')
    return cols

def test_evaluate_model_on_a_user_spec_matches_independent_scores(tmp_path):
    from align_nb.report import evaluate_model
    from align_nb.backbones import pixel_model
    from align_nb.features import extract_features
    from align_nb.backbones import make_transform
    from align_nb.evaluate import rsa_report
    rng = np.random.default_rng(2)
    _toy_images(tmp_path / 'imgs', 12, rng)
    A = _anchored(rng, 12, 60)
    pd.DataFrame(A + 1, columns=['ref', 'chosen', 'other']).to_csv(tmp_path / 'anch.csv.gz', index=False)
    O = _anchored(rng, 12, 60)
    (tmp_path / 'ooo.json').write_text(json.dumps([dict(i=int(a), j=int(b), k=int(c), odd=int(o)) for (a, b, c), o in zip(O, rng.integers(0, 3, 60))]))
    D = np.abs(rng.normal(size=(12, 12))); D = D + D.T; np.fill_diagonal(D, 7.0)
    pd.DataFrame(D, index=[f's{i}' for i in range(12)], columns=[f's{i}' for i in range(12)]).to_csv(tmp_path / 'rdm.csv')
    spec = [dict(name='anch', kind='anchored', triplets='anch.csv.gz', images='imgs', triplet_options=dict(item_cols=['ref', 'chosen', 'other'], base=1)),
            dict(name='ooo', kind='odd-one-out', triplets='ooo.json', images='imgs', triplet_options=dict(item_cols=['i', 'j', 'k'], odd='position', odd_col='odd')),
            dict(name='rdm', kind='rdm', rdms='rdm.csv', images='imgs', rdm_options=dict(diagonal=7.0))]
    (tmp_path / 'spec.json').write_text(json.dumps(spec))
    tab = evaluate_model('pixels', tmp_path / 'spec.json', baselines=[], run_dir=tmp_path / 'run', n_boot=50, cache_dir=False, verbose=False)
    # independent: raw pixels of the images composited on white, center-cropped to 32 x 32
    ims = FileImages(sorted((tmp_path / 'imgs').glob('*.png')))
    m = pixel_model()
    X = np.asarray(extract_features(m, ims, make_transform(m), progress=False), np.float64)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    s = lambda i, j: Xn[i] @ Xn[j]
    anch = np.mean([s(r, c) > s(r, o) for r, c, o in A])
    odd = json.loads((tmp_path / 'ooo.json').read_text())
    def pred(i, j, k):
        p = [s(j, k), s(i, k), s(i, j)]
        return int(np.argmax(p)) if sorted(p)[-1] > sorted(p)[-2] else -1
    ooo = np.mean([pred(r['i'], r['j'], r['k']) == r['odd'] for r in odd])
    row = lambda d: tab[tab.dataset == d].iloc[0]
    assert abs(row('anch').score - anch) < 1e-9 and row('anch').chance == 0.5 and row('anch').ci_over == 'questions'  # some questions repeat here
    assert abs(row('ooo').score - ooo) < 1e-9 and abs(row('ooo').chance - 1 / 3) < 1e-12
    D0 = D.copy(); np.fill_diagonal(D0, 0)
    assert abs(row('rdm').score - rsa_report(X, D0[None], n_boot=10)['rho_subject_mean']) < 1e-9
    assert (tmp_path / 'run' / 'report_card.png').stat().st_size > 5000
    info = json.loads((tmp_path / 'run' / 'report.json').read_text())
    assert info['options']['background'] == 'white' and info['options']['resize'] == 'crop' and 'provenance' in info
    assert (tmp_path / 'run' / 'COMPLETE.json').is_file()

def test_things_builtin_skips_image_models_and_scores_an_embedding(shared_data):
    from align_nb.report import evaluate_model
    t = evaluate_model('pixels', 'things', baselines=[], run_dir=False, verbose=False)
    assert np.isnan(t.score[0]) and 'no THINGS images' in t.note[0]
    e = str(shared_data / 'things' / 'vice_embedding_42d.npy')
    t = evaluate_model('pixels', [dict(builtin='things', features=e)], baselines=[], metric='dot', run_dir=False, n_boot=50, verbose=False)
    # independent: VICE dot products, odd one out = the item outside the most similar pair, ties wrong
    from align_nb.realdata import load_things_noise_ceiling_csv
    tr = load_things_noise_ceiling_csv(shared_data / 'things' / 'test_triplets.csv')
    V = np.load(e).astype(np.float64); i, j, k = tr.items.T
    S = np.stack([(V[j] * V[k]).sum(1), (V[i] * V[k]).sum(1), (V[i] * V[j]).sum(1)], 1)
    srt = np.sort(S, 1)
    acc = np.mean((S.argmax(1) == tr.odd) & (srt[:, 2] > srt[:, 1]))
    assert abs(t.score[0] - acc) < 0.01 and 0.6 < acc < 0.67


def test_package_level_evaluate_model():
    import align_nb, align_nb.report
    assert align_nb.evaluate_model is align_nb.report.evaluate_model

def test_spec_with_named_items_in_a_zip_and_votes_per_choice(tmp_path):
    from align_nb.report import evaluate_model
    from align_nb.backbones import pixel_model
    from align_nb.features import extract_features
    from align_nb.backbones import make_transform
    rng = np.random.default_rng(7)
    _toy_images(tmp_path / 'imgs', 8, rng)
    names = sorted(p.name for p in (tmp_path / 'imgs').glob('*.png'))
    A = _anchored(rng, 8, 40)
    csv = 'head,closer,farther\n' + ''.join(f'{Path(names[a]).stem},{names[b]},{names[c]}\n' for a, b, c in A)
    with zipfile.ZipFile(tmp_path / 'a.zip', 'w') as z: z.writestr('answers.csv', csv)
    O = _anchored(rng, 8, 30); V = rng.integers(0, 4, (30, 3))
    (tmp_path / 'o.json').write_text(json.dumps({'i': O[:, 0].tolist(), 'j': O[:, 1].tolist(), 'k': O[:, 2].tolist(),
                                                 'n0': V[:, 0].tolist(), 'n1': V[:, 1].tolist(), 'n2': V[:, 2].tolist()}))
    spec = [dict(name='a', kind='anchored', triplets='a.zip', images='imgs', resize='pad',
                 triplet_options=dict(item_cols=['head', 'closer', 'farther'], ids='images')),
            dict(name='o', kind='odd-one-out', triplets='o.json', images='imgs', triplet_options=dict(item_cols=['i', 'j', 'k'], count_col=['n0', 'n1', 'n2']))]
    (tmp_path / 's.json').write_text(json.dumps(spec))
    tab = evaluate_model('pixels', tmp_path / 's.json', baselines=[], run_dir=False, n_boot=20, cache_dir=False, verbose=False)  # resize='pad' from the spec entry
    m = pixel_model(); ims = FileImages([tmp_path / 'imgs' / n for n in names])
    X = np.asarray(extract_features(m, ims, make_transform(m, resize='pad'), progress=False), np.float64)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True); s = lambda i, j: Xn[i] @ Xn[j]
    assert abs(tab[tab.dataset == 'a'].score.iloc[0] - np.mean([s(r, c) > s(r, o) for r, c, o in A])) < 1e-9
    # votes per position: accuracy = sum of votes for the model's choice / all votes (ties wrong); this entry keeps resize='crop'
    X = np.asarray(extract_features(m, ims, make_transform(m), progress=False), np.float64)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    hits, tot = 0, 0
    for (i, j, k), v in zip(O, V):
        p = np.array([s(j, k), s(i, k), s(i, j)]); srt = np.sort(p)
        if srt[2] > srt[1]: hits += v[int(p.argmax())]
        tot += v.sum()
    assert abs(tab[tab.dataset == 'o'].score.iloc[0] - hits / tot) < 1e-9

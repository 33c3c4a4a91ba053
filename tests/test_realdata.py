"Tests of align_nb.realdata: THINGS / SPoSE / VICE / Levels / Mur92 / ImageNet loaders and the CIFAR ResNets."
import os, pickle
os.environ['HF_HUB_OFFLINE'] = '1'
os.environ.setdefault('OMP_NUM_THREADS', '1')
import numpy as np
import pytest
from align_nb.core import AlignNbError, shared_data_dir
from align_nb.data import Trials
import align_nb.realdata as rd

DATA = shared_data_dir()

def need(sub):
    "Skip unless the shared data folder holds `sub`."
    if DATA is None or not (DATA / sub).exists(): pytest.skip(f'shared data {sub} not available (set ALIGN_NB_DATA)')
    return DATA / sub

# ---------------------------------------------------------------- THINGS triplet files (written here)

def test_things_triplets_odd_last_zero_based(tmp_path):
    p = tmp_path / 'trainset.txt'; p.write_text('0 1 2\n1853 7 3\n')
    tr = rd.load_things_triplets(p)
    assert tr.items.tolist() == [[0, 1, 2], [1853, 7, 3]]
    assert tr.odd.tolist() == [2, 2]
    assert tr.source == str(p)

def test_things_triplets_trailing_blank_lines_ok(tmp_path):
    p = tmp_path / 'validationset.txt'; p.write_text('0 1 2\n3 4 5\n\n\n')
    assert len(rd.load_things_triplets(p, n_items=6)) == 2

@pytest.mark.parametrize('text, msg', [
    ('0 1 2\n3 4\n', 'line 2: expected 3'),
    ('0 1 2\n3 4 5 6\n', 'line 2: expected 3'),
    ('0 1 2\n3 x 5\n', "line 2: expected integers, got 'x'"),
    ('0 1 2\n3 4.5 5\n', "line 2: expected integers, got '4.5'"),
    ('0 1 2\n\n3 4 5\n', 'line 2: empty line'),
    ('0 1 2\n3 4 6\n', 'line 2: item index out of range 0..5'),
    ('1 2 3\n4 5 6\n', 'looks 1-based'),
    ('0 1 2\n4 4 5\n', 'line 2: a triplet needs three different items'),
])
def test_things_triplets_bad_file_names_line(tmp_path, text, msg):
    p = tmp_path / 'testset1.txt'; p.write_text(text)
    with pytest.raises(AlignNbError, match=None) as e: rd.load_things_triplets(p, n_items=6)
    assert msg in str(e.value) and str(p) in str(e.value)

def test_things_triplets_missing_and_empty_file(tmp_path):
    with pytest.raises(FileNotFoundError): rd.load_things_triplets(tmp_path / 'nope.txt')
    (tmp_path / 'e.txt').write_text('')
    with pytest.raises(AlignNbError, match='empty'): rd.load_things_triplets(tmp_path / 'e.txt')

def test_noise_ceiling_csv_converts_one_based_positions(tmp_path):
    p = tmp_path / 'nc.csv'; p.write_text('1\t2\t3\t1\t10\n4\t5\t6\t2\t11\n6\t1\t2\t3\t10\n')
    tr = rd.load_things_noise_ceiling_csv(p, n_items=6)
    assert tr.items.tolist() == [[0, 1, 2], [3, 4, 5], [5, 0, 1]]
    assert tr.odd.tolist() == [0, 1, 2]
    assert tr.subject.tolist() == [10, 11, 10]
    p.write_text('0\t1\t2\t1\t10\n')
    with pytest.raises(AlignNbError, match='looks 0-based'): rd.load_things_noise_ceiling_csv(p, n_items=6)
    p.write_text('1\t2\t3\t0\t10\n')
    with pytest.raises(AlignNbError, match='line 1: odd_pos'): rd.load_things_noise_ceiling_csv(p, n_items=6)

def test_things_triplets_large_file_fast(tmp_path):
    "A 200k-row file (the real trainset has 4.1M) loads through the vectorised path and round-trips."
    rng = np.random.default_rng(0)
    a = np.stack([rng.permutation(1854)[:3] for _ in range(2000)] * 100)
    p = tmp_path / 'trainset.txt'; np.savetxt(p, a, fmt='%d')
    tr = rd.load_things_triplets(p)
    assert np.array_equal(tr.items, a) and (tr.odd == 2).all()

# ---------------------------------------------------------------- THINGS images (fake folder)

def _things_folder(tmp_path):
    from PIL import Image
    oi = tmp_path / 'object_images'
    for c, names in {'aardvark': ['aardvark_02s.jpg', 'aardvark_01b.jpg', 'notes.txt'], 'abacus': ['abacus_01b.jpg', 'abacus_10n.jpg']}.items():
        (oi / c).mkdir(parents=True)
        for n in names:
            if n.endswith('.jpg'): Image.new('RGB', (6, 6), (len(n), 0, 0)).save(oi / c / n)
            else: (oi / c / n).write_text('x')
    return oi

def test_things_images_choice(tmp_path):
    oi = _things_folder(tmp_path)
    ims = rd.things_images(oi, ['aardvark', 'abacus'])
    assert [p.name for p in ims.paths] == ['aardvark_01b.jpg', 'abacus_01b.jpg']
    assert ims.ids == ['aardvark', 'abacus'] and ims.labels['concept'].tolist() == [0, 1]
    assert [p.name for p in rd.things_images(oi, ['aardvark', 'abacus'], choice=1).paths] == ['aardvark_02s.jpg', 'abacus_10n.jpg']
    pick = rd.things_images(oi, ['abacus'], choice=lambda c, ps: [p for p in ps if p.name.endswith('n.jpg')][0])
    assert pick.paths[0].name == 'abacus_10n.jpg'
    assert ims[0].size == (6, 6)

def test_things_images_errors(tmp_path):
    oi = _things_folder(tmp_path)
    with pytest.raises(FileNotFoundError, match="concept 1 'zebra'"): rd.things_images(oi, ['aardvark', 'zebra'])
    with pytest.raises(AlignNbError, match='out of range'): rd.things_images(oi, ['aardvark'], choice=5)
    (oi / 'empty').mkdir()
    with pytest.raises(AlignNbError, match='no image named empty_'): rd.things_images(oi, ['empty'])

# ---------------------------------------------------------------- real THINGS files

def test_things_ids_concepts_categories_real():
    d = need('things')
    ids = rd.load_things_ids(d / 'unique_id.txt')
    assert len(ids) == 1854 and ids[:2] == ['aardvark', 'abacus'] and ids[-1] == 'zucchini'
    df = rd.load_things_concepts(d / 'things_concepts.tsv', ids=ids)
    assert len(df) == 1854 and df['Word'].iloc[0] == 'aardvark'
    cats = rd.load_things_categories(d / 'category_mat_manual.tsv', ids=ids)
    assert cats.shape == (1854, 27) and (cats.dtypes == bool).all()
    assert cats.loc['aardvark', 'animal'] and not cats.loc['abacus', 'animal']
    assert 0 < cats['vehicle'].sum() < 1854

def test_things_concepts_order_mismatch_named(tmp_path):
    d = need('things')
    ids = rd.load_things_ids(d / 'unique_id.txt')
    ids2 = [ids[1], ids[0]] + ids[2:]
    with pytest.raises(AlignNbError, match="line 2: uniqueID 'aardvark', expected 'abacus'"):
        rd.load_things_concepts(d / 'things_concepts.tsv', ids=ids2)

def _own_odd_one_out_acc(X, tr):
    "Dot-product odd-one-out: the item left out of the most similar pair; ties count as wrong."
    S = X @ X.T
    i, j, k = tr.items.T
    s = np.stack([S[i, j], S[i, k], S[j, k]], 1)
    pred = np.array([2, 1, 0])[s.argmax(1)]
    tie = (s == s.max(1, keepdims=True)).sum(1) > 1
    return float(((pred == tr.odd) & ~tie).mean())

@pytest.fixture(scope='module')
def things_test():
    d = need('things')
    return rd.load_things_noise_ceiling_csv(d / 'test_triplets.csv')

def test_things_test_triplets_shape_and_noise_ceiling(things_test):
    tr = things_test
    assert len(tr) == 20000 and tr.items.min() == 0 and tr.items.max() == 1853 and set(tr.odd.tolist()) == {0, 1, 2}
    rep = tr.aggregate()
    assert len(rep) == 1000 and rep.n.min() >= 14 and rep.n.max() <= 25
    ceiling = float((rep.counts.max(1) / rep.n).mean())
    assert abs(ceiling - 0.672) < 0.003, ceiling

@pytest.mark.parametrize('fname, lo, hi', [('spose_embedding_66d_sorted.txt', 0.63, 0.645), ('spose_embedding_49d_sorted.txt', 0.625, 0.64),
                                           ('vice_embedding_42d.npy', 0.63, 0.645)])
def test_spose_vice_dot_product_accuracy(things_test, fname, lo, hi):
    p = DATA / 'things' / fname
    X = rd.load_vice(p) if fname.endswith('.npy') else rd.load_spose(p)
    assert X.shape[0] == 1854 and X.min() > -0.01
    acc = _own_odd_one_out_acc(X, things_test)
    assert lo <= acc <= hi, (fname, acc)

def test_things_evaluate_module_agrees(things_test):
    ev = pytest.importorskip('align_nb.evaluate')
    X = rd.load_spose(DATA / 'things' / 'spose_embedding_66d_sorted.txt')
    assert abs(float(ev.odd_one_out_accuracy(X, things_test, metric='dot').mean()) - _own_odd_one_out_acc(X, things_test)) < 1e-9
    assert abs(ev.noise_ceiling(things_test.aggregate()) - 0.672) < 0.003

def test_vice_probs_real():
    d = need('things')
    P = rd.load_vice_probs(d / 'vice_test_triplet_probabilities.npy', n_rows=20000)
    assert P.shape == (20000, 3) and np.allclose(P.sum(1), 1, atol=1e-3)
    # measured: column 0 (pair of the first two items) wins as often as VICE agrees with humans, i.e. rows hold
    # triplets with the human's choice last (their row order does not match test_triplets.csv; see the notebook)
    assert 0.63 <= (P.argmax(1) == 0).mean() <= 0.645
    with pytest.raises(AlignNbError, match='20000 rows, expected 100'): rd.load_vice_probs(d / 'vice_test_triplet_probabilities.npy', n_rows=100)

def test_embedding_validation(tmp_path):
    p = tmp_path / 'e.txt'; p.write_text('0.1 0.2\n0.3 -0.5\n')
    with pytest.raises(AlignNbError, match='row 1, dim 1'): rd.load_spose(p, n_items=2)
    p.write_text('0.1 0.2\n0.3 0.4\n')
    with pytest.raises(AlignNbError, match='2 rows, expected 1854'): rd.load_spose(p)
    p.write_text('0.1 0.2\n0.3 nan\n')
    with pytest.raises(AlignNbError, match='line 2'): rd.load_spose(p, n_items=2)
    np.save(tmp_path / 'v.npy', np.ones((3, 4, 2)))
    with pytest.raises(AlignNbError, match='2-d embedding'): rd.load_vice(tmp_path / 'v.npy')

# ---------------------------------------------------------------- Levels (written here, real ImageNet basenames)

@pytest.fixture
def levels(tmp_path):
    root = need('imagenet_sample')
    files = sorted((root / 'train').glob('*/*'))[:12]
    n = [f.name for f in files]
    def t(a, b, c, sel, typ='exp_trial', kind='between_class', rt=1000.0):
        return dict(image1Path=a, image2Path=b, image3Path=c, selected_image=sel, exp_trial_type=typ, triplet_type=kind,
                    response_time=rt, other_key='x')
    data = {'sub-01': [t(n[0], n[1], n[2], n[2]), t(n[3], n[4], n[5], n[3], kind='within_class', rt=1500.0),
                       t(n[6], n[7], n[8], n[6], typ='practice')],
            7: [t(n[9], n[10], n[0], n[10], kind='class_border', rt=700.0), t(n[1], n[0], n[2], n[2], typ='catch_trial')]}
    p = tmp_path / 'pruned_dataset.pkl'
    with open(p, 'wb') as f: pickle.dump(data, f)
    return p, root, n, data

def test_levels_loads_trials_and_images(levels):
    p, root, n, _ = levels
    ims, tr = rd.load_levels(p, root, rt_scale=1e-3)
    used = sorted({n[i] for i in (0, 1, 2, 3, 4, 5, 9, 10)})
    assert ims.ids == used
    assert all(q.is_file() and q.parent.name == q.name.split('_')[0] for q in ims.paths)
    assert ims.labels['wnid'].tolist() == [u.split('_')[0] for u in used]
    ix = {u: i for i, u in enumerate(used)}
    assert tr.items.tolist() == [[ix[n[0]], ix[n[1]], ix[n[2]]], [ix[n[3]], ix[n[4]], ix[n[5]]], [ix[n[9]], ix[n[10]], ix[n[0]]]]
    assert tr.odd.tolist() == [2, 0, 1]
    assert tr.subject.tolist() == ['sub-01', 'sub-01', '7']
    assert tr.kind.tolist() == ['between_class', 'within_class', 'class_border']
    assert np.allclose(tr.rt, [1.0, 1.5, 0.7])

def test_levels_rt_key_options(levels):
    p, root, _, _ = levels
    assert rd.load_levels(p, root, rt_key=None)[1].rt is None
    with pytest.raises(AlignNbError, match="missing reaction-time key 'RT'"): rd.load_levels(p, root, rt_key='RT')
    _, tr = rd.load_levels(p, root / 'train', rt_key='response_time')  # the train folder itself works too
    assert tr.rt.tolist() == [1000.0, 1500.0, 700.0]

def test_levels_selected_not_in_triplet_names_participant_and_trial(levels, tmp_path):
    p, root, n, data = levels
    data[7][0]['selected_image'] = 'n99999999_1.JPEG'
    with open(p, 'wb') as f: pickle.dump(data, f)
    with pytest.raises(AlignNbError, match=r"participant 7, trial 0: selected_image 'n99999999_1.JPEG' is not one of"):
        rd.load_levels(p, root)

def test_levels_missing_key_and_missing_image(levels, tmp_path):
    p, root, n, data = levels
    del data['sub-01'][1]['image2Path']
    with open(p, 'wb') as f: pickle.dump(data, f)
    with pytest.raises(AlignNbError, match=r"participant 'sub-01', trial 1: missing key\(s\) \['image2Path'\]"): rd.load_levels(p, root)
    data['sub-01'][1]['image2Path'] = 'n01440764_999999.JPEG'
    with open(p, 'wb') as f: pickle.dump(data, f)
    with pytest.raises(FileNotFoundError, match="n01440764_999999.JPEG.*participant 'sub-01', trial 1"): rd.load_levels(p, root)

def test_levels_not_a_dict(tmp_path):
    p = tmp_path / 'x.pkl'
    with open(p, 'wb') as f: pickle.dump([1, 2], f)
    with pytest.raises(AlignNbError, match='expected a dict participant'): rd.load_levels(p, tmp_path)

# ---------------------------------------------------------------- Mur92

@pytest.fixture(scope='module')
def mur():
    return rd.load_mur92(need('mur92'))

def test_mur92_shapes_symmetry(mur):
    assert mur.rdms.shape == (16, 92, 92) and len(mur.subjects) == 16 and 'subject1' in mur.subjects[0]
    assert np.allclose(mur.rdms, mur.rdms.transpose(0, 2, 1)) and np.all(np.diagonal(mur.rdms, axis1=1, axis2=2) == 0)
    assert len(mur.images) == 92 and mur.images.arr.shape == (92, 175, 175, 3)
    assert mur.category_vectors.shape == (92, 12) and mur.category_labels[:3] == ['animate', 'inanim', 'human']
    assert mur.images.labels['face'].dtype == bool and mur.images.labels['animate'].sum() + mur.images.labels['inanim'].sum() == 92

RANDOM_LABELS = ('rand24', 'rand48', 'other48')  # random control groupings in the .mat file, not categories

def test_mur92_within_category_below_between(mur):
    "Every semantic label: within < between on the mean RDM; the random control labels show no such gap."
    D = mur.mean_rdm
    iu = np.triu_indices(92, 1)
    assert set(RANDOM_LABELS) < set(mur.category_labels)
    for j, lab in enumerate(mur.category_labels):
        m = mur.category_vectors[:, j]
        within, between = D[iu][(m[:, None] & m[None, :])[iu]].mean(), D[iu][(m[:, None] ^ m[None, :])[iu]].mean()
        if lab in RANDOM_LABELS: assert abs(within / between - 1) < 0.05, (lab, within, between)
        else: assert within < 0.9 * between, (lab, within, between)

def test_mur92_noise_ceiling(mur):
    from scipy.stats import spearmanr
    iu = np.triu_indices(92, 1)
    V = mur.rdms[:, iu[0], iu[1]]
    upper = np.mean([spearmanr(v, V.mean(0))[0] for v in V])
    lower = np.mean([spearmanr(V[s], np.delete(V, s, 0).mean(0))[0] for s in range(len(V))])
    assert abs(lower - 0.48) < 0.03 and abs(upper - 0.58) < 0.03, (lower, upper)

def test_mur92_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='Kriegeskorte_Neuron2008_supplementalData.mat'): rd.load_mur92(tmp_path)

# ---------------------------------------------------------------- ImageNet folder

def test_imagenet_folder_real():
    root = need('imagenet_sample')
    ims = rd.load_imagenet_folder(root)
    assert len(ims) == 419 and len(ims.classes) == 196
    assert all(p.parent.name == w == p.name.split('_')[0] for p, w in zip(ims.paths, ims.labels['wnid']))
    assert ims[0].mode == 'RGB'

# ---------------------------------------------------------------- CIFAR ResNets

EXPECTED_TOP1 = {20: 91.78, 32: 92.78, 44: 93.14, 56: 93.62}

def test_cifar_architecture_parameter_counts():
    C = rd.CifarResNet
    counts = {d: sum(p.numel() for p in C(d).parameters()) for d in (20, 32, 44, 56)}
    assert counts == {20: 269722, 32: 464154, 44: 658586, 56: 853018}  # 0.27M / 0.46M / 0.66M / 0.85M (He et al.)
    with pytest.raises(AlignNbError, match='6n\\+2'): C(21)

def test_cifar_option_a_shortcut_pads_channels_in_the_middle():
    import torch
    b = rd.CifarBasicBlock(16, 32, 2)
    x = torch.arange(16 * 4 * 4, dtype=torch.float32).view(1, 16, 4, 4)
    y = b.shortcut(x)
    assert y.shape == (1, 32, 2, 2)
    assert (y[:, :8] == 0).all() and (y[:, 24:] == 0).all() and torch.equal(y[:, 8:24], x[:, :, ::2, ::2])

def test_cifar_timm_interface():
    import torch
    m = rd.CifarResNet(20).eval()
    x = torch.randn(3, 3, 32, 32)
    f = m.forward_features(x)
    assert f.shape == (3, 64, 8, 8) and m.num_features == 64
    assert torch.allclose(m.forward_head(f, pre_logits=True), f.mean((2, 3)))
    assert m(x).shape == (3, 10)
    m.reset_classifier(0)
    assert m(x).shape == (3, 64) and isinstance(m.get_classifier(), torch.nn.Identity)
    m.reset_classifier(5)
    assert m(x).shape == (3, 5)

@pytest.fixture(scope='module')
def cifar_models():
    d = need('cifar_resnet')
    out = {}
    for depth in (20, 32, 44, 56):
        f = next(d.glob(f'resnet{depth}-*.th'))
        out[depth] = rd.load_cifar_resnet(f'resnet{depth}', f)
    return out

def test_cifar_real_weights_load_strictly(cifar_models):
    for depth, (m, top1) in cifar_models.items():
        print(f'cifar_resnet{depth}: stored best_prec1 = {top1:.2f}')
        assert abs(top1 - EXPECTED_TOP1[depth]) < 0.01
        assert not m.training and m.pretrained_cfg['input_size'] == (3, 32, 32)

def _sample_batch(n=48):
    import torch
    from PIL import Image
    paths = sorted((DATA / 'imagenet_sample' / 'train').glob('*/*'))[::8][:n]
    x = np.stack([np.asarray(Image.open(p).convert('RGB').resize((32, 32), Image.BILINEAR), dtype=np.float32) / 255 for p in paths])
    x = (x - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    return torch.from_numpy(x.transpose(0, 3, 1, 2).copy())

def test_cifar_real_models_finite_and_agree(cifar_models):
    import torch
    need('imagenet_sample')
    x = _sample_batch()
    preds = []
    with torch.no_grad():
        for depth, (m, _) in cifar_models.items():
            y = m(x)
            assert y.shape == (len(x), 10) and torch.isfinite(y).all()
            preds.append(y.argmax(1).numpy())
    P = np.array(preds)
    agree = [(P[i] == P[j]).mean() for i in range(4) for j in range(i + 1, 4)]
    chance = max(((np.bincount(P[i], minlength=10) / len(x)) * (np.bincount(P[j], minlength=10) / len(x))).sum()
                 for i in range(4) for j in range(i + 1, 4))
    print('pairwise agreement', np.round(agree, 2), 'chance', round(chance, 3))
    assert min(agree) > 2 * chance  # wrong weights or a wrong shortcut give about chance agreement

def test_cifar_strict_key_check_names_keys(tmp_path):
    import torch
    m = rd.CifarResNet(20)
    sd = {'module.' + k: v for k, v in m.state_dict().items() if 'num_batches' not in k}
    sd['module.extra.weight'] = torch.zeros(1)
    del sd['module.layer2.1.conv1.weight']
    torch.save({'best_prec1': 1.0, 'state_dict': sd}, tmp_path / 'bad.th')
    with pytest.raises(AlignNbError, match=r"1 missing key\(s\) \['layer2.1.conv1.weight'\], 1 unexpected key\(s\) \['extra.weight'\]"):
        rd.load_cifar_resnet('resnet20', tmp_path / 'bad.th')
    sd = {k: v for k, v in m.state_dict().items()}
    sd['linear.weight'] = torch.zeros(5, 64)
    torch.save({'state_dict': sd}, tmp_path / 'shape.th')
    with pytest.raises(AlignNbError, match='shape mismatch.*linear.weight'): rd.load_cifar_resnet('cifar_resnet20', tmp_path / 'shape.th')
    with pytest.raises(AlignNbError, match='unknown model'): rd.load_cifar_resnet('resnet18', tmp_path / 'shape.th')



# ---- any RDM file and any odd-one-out table (further human-similarity datasets) ----

needs_mur = pytest.mark.skipif(DATA is None or not (DATA / 'mur92').is_dir(), reason='shared data folder absent')


@needs_mur
def test_load_rdms_reads_the_brain_and_it_rdms_of_kriegeskorte_2008():
    br, names = rd.load_rdms(DATA / 'mur92' / '92_brainRDMs.mat', return_names=True)
    assert br.shape == (8, 92, 92) and len(names) == 8
    it, nm = rd.load_rdms(DATA / 'mur92' / 'Kriegeskorte_Neuron2008_supplementalData.mat', key='RDMs_mIT_hIT_fig1', return_names=True)
    assert it.shape == (2, 92, 92) and nm == ['mIT_674neurons', 'hITvisStim_316vx']
    for R in (*br, *it):
        assert np.allclose(R, R.T) and np.all(np.diag(R) == 0) and np.isfinite(R).all()
    # the published human-IT RDM (a 4186-vector) is the mean of the 4 subjects x 2 sessions (a struct array of 92x92 matrices)
    assert np.abs(it[1] - br.mean(0)).max() < 1e-6
    # IT separates animate from inanimate objects: within-animacy dissimilarity is below between
    an = rd.load_mur92(DATA / 'mur92').images.labels['animate'].astype(bool)
    for R in it:
        within = np.r_[R[np.ix_(an, an)][np.triu_indices(an.sum(), 1)], R[np.ix_(~an, ~an)][np.triu_indices((~an).sum(), 1)]].mean()
        assert within < R[np.ix_(an, ~an)].mean()


@needs_mur
def test_rsa_of_brain_rdms_through_the_public_api():
    from align_nb.evaluate import rsa_report
    br = rd.load_rdms(DATA / 'mur92' / '92_brainRDMs.mat')
    it = rd.load_rdms(DATA / 'mur92' / 'Kriegeskorte_Neuron2008_supplementalData.mat', key='RDMs_mIT_hIT_fig1')
    # 'features' whose cosine RDM is the monkey-IT RDM are not at hand; a model whose features are the category vectors is
    cv = rd.load_mur92(DATA / 'mur92').category_vectors[:, :8].astype(float) + 0.1
    r = rsa_report(cv, br, n_boot=100, seed=0)
    assert r['n_subjects'] == 8 and r['n_stimuli'] == 92
    assert 0 < r['noise_ceiling_lower'] <= r['noise_ceiling_upper'] <= 1 and r['rho_subject_mean_ci'][0] <= r['rho_subject_mean'] <= r['rho_subject_mean_ci'][1]
    assert r['rho_subject_mean'] > 0.1  # category structure explains part of human IT
    assert rsa_report(cv, it[:1], n_boot=10)['n_subjects'] == 1


def test_load_rdms_formats_and_errors(tmp_path):
    import scipy.io as sio
    from scipy.spatial.distance import squareform
    rng = np.random.default_rng(1)
    A = np.abs(rng.normal(size=(2, 6, 6))); A = A + A.transpose(0, 2, 1)
    for a in A: np.fill_diagonal(a, 0)
    np.save(tmp_path / 'v.npy', squareform(A[0])); assert np.allclose(rd.load_rdms(tmp_path / 'v.npy')[0], A[0])
    sio.savemat(tmp_path / 'm.mat', {'D': A[1]}); assert np.allclose(rd.load_rdms(tmp_path / 'm.mat')[0], A[1])
    (tmp_path / 'h.tsv').write_text('\t' + '\t'.join('abcdef') + '\n' + ''.join(c + '\t' + '\t'.join(map(str, row)) + '\n' for c, row in zip('abcdef', A[0])))
    assert np.allclose(rd.load_rdms(tmp_path / 'h.tsv')[0], A[0])
    C = np.corrcoef(rng.normal(size=(6, 20))); np.save(tmp_path / 'c.npy', C)
    assert np.allclose(rd.load_rdms(tmp_path / 'c.npy', kind='similarity')[0], 1 - C, atol=1e-12)
    N = A[0].copy(); N[0, 4] = N[4, 0] = np.nan; np.save(tmp_path / 'nan.npy', N)
    with pytest.raises(AlignNbError, match=r'nan\.npy: RDM 0 .*entry \(0, 4\) is nan'): rd.load_rdms(tmp_path / 'nan.npy')
    np.save(tmp_path / 'odd.npy', np.zeros(7))
    with pytest.raises(AlignNbError, match='not an upper triangle'): rd.load_rdms(tmp_path / 'odd.npy')
    with pytest.raises(AlignNbError, match='unknown RDM file type'): rd.load_rdms(tmp_path / 'x.json') if (tmp_path / 'x.json').write_text('{}') else None
    with pytest.raises(FileNotFoundError): rd.load_rdms(tmp_path / 'missing.npy')


def test_load_triplet_table_layouts_and_errors(tmp_path):
    (tmp_path / 't.csv').write_text('a,b,c,odd_item,who,kind\n1,2,3,2,p1,x\n3,4,1,1,p2,y\n')
    t = rd.load_triplet_table(tmp_path / 't.csv', ('a', 'b', 'c'), odd='item', odd_col='odd_item', base=1, subject_col='who', kind_col='kind', n_items=4)
    assert t.items.tolist() == [[0, 1, 2], [2, 3, 0]] and t.odd.tolist() == [1, 2] and t.kind.tolist() == ['x', 'y']
    (tmp_path / 'p.txt').write_text('0 1 2 0\n2 1 0 2\n')
    t = rd.load_triplet_table(tmp_path / 'p.txt', odd='position', odd_col=3)
    assert t.odd.tolist() == [0, 2] and t.odd_last.tolist() == [[1, 2, 0], [2, 1, 0]]
    (tmp_path / 'bad.txt').write_text('0 1 2 0\n2 1 q 2\n')
    with pytest.raises(AlignNbError, match="bad.txt: line 2: item 2 must be an integer, got 'q'"): rd.load_triplet_table(tmp_path / 'bad.txt', odd='position', odd_col=3)
    with pytest.raises(AlignNbError, match='no column'): rd.load_triplet_table(tmp_path / 't.csv', ('a', 'b', 'zz'))


@needs_mur
def test_odd_one_out_on_a_further_table_through_the_public_api(tmp_path):
    "A triplet table written from the Mur92 mean RDM (another dataset's shape) scores through load_triplet_table + odd_one_out_report."
    from align_nb.evaluate import odd_one_out_report
    mur = rd.load_mur92(DATA / 'mur92'); D = mur.mean_rdm
    rng = np.random.default_rng(0)
    t = np.array([rng.choice(92, 3, replace=False) for _ in range(300)])
    d = np.stack([D[t[:, 1], t[:, 2]], D[t[:, 0], t[:, 2]], D[t[:, 0], t[:, 1]]], 1)  # distance of the pair without item i
    chosen = t[np.arange(300), d.argmin(1)]  # the odd one out: the item left out of the closest pair
    np.savetxt(tmp_path / 'mur_triplets.csv', np.c_[t + 1, chosen + 1], fmt='%d', delimiter=',')
    trials = rd.load_triplet_table(tmp_path / 'mur_triplets.csv', odd='item', odd_col=3, base=1, n_items=92)
    # the RDM itself as a precomputed similarity (-D) reproduces every choice; category vectors score above chance (1/3)
    from align_nb.evaluate import triplet_similarities, predict_odd, score_predictions
    assert score_predictions(predict_odd(triplet_similarities(-D, trials.items, 'precomputed')), trials).mean() == 1.0
    cv = mur.category_vectors.astype(float) + 0.05
    assert odd_one_out_report(cv, trials, n_boot=10)['accuracy'] > 0.4

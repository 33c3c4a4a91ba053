"""Planted payloads: no file a user may have received runs code when align_nb reads it, and every refusal names the file.

Each payload's `__reduce__` asks the unpickler to call `os.system` or `exec` to create a marker file; the tests assert the
marker never appears. Also: truncated checkpoints, temp files of killed checkpoint writes, Levels reaction times."""
import os
os.environ['HF_HUB_OFFLINE'] = '1'
import pickle
import numpy as np
import pytest
import torch

torch.set_num_threads(1)

from align_nb.core import AlignNbError, is_complete, safe_unpickle, safe_np_load
import align_nb.realdata as rd
from helpers import tiny_distill as _distill

class SystemPayload:
    "Unpickling calls os.system('touch <marker>')."
    def __init__(self, marker): self.marker = str(marker)
    def __reduce__(self): return (os.system, (f'touch {self.marker}',))

class ExecPayload:
    "Unpickling calls exec(...) that creates <marker>."
    def __init__(self, marker): self.marker = str(marker)
    def __reduce__(self): return (exec, (f'open({self.marker!r}, "w").close()',))

PAYLOADS = {'os.system': SystemPayload, 'exec': ExecPayload}

@pytest.fixture(params=sorted(PAYLOADS))
def payload(request, tmp_path):
    "(payload object, marker path, name of the refused global)."
    marker = tmp_path / 'PAYLOAD_RAN'
    glob = {'os.system': f'{os.system.__module__}.system', 'exec': 'builtins.exec'}[request.param]
    yield PAYLOADS[request.param](marker), marker, glob
    assert not marker.exists(), 'the payload ran'

# ---------------------------------------------------------------- distillation checkpoint




def test_planted_checkpoint_never_runs(payload, tmp_path):
    obj, marker, glob = payload
    out = tmp_path / 'run'; out.mkdir()
    torch.save({'step': 2, 'model': {}, 'optimizer': {}, 'rng': obj, 'last_eval': {}, 'initial_eval': {}, 'run_key': 'x'}, out / 'checkpoint.pt')
    with pytest.raises(AlignNbError, match=f"{out / 'checkpoint.pt'}: refused.*resume=False") as e: _distill(out)
    assert glob in str(e.value) and not marker.exists()
    from align_nb.distill import load_checkpoint
    with pytest.raises(AlignNbError, match='checkpoint.pt: refused'): load_checkpoint(out / 'checkpoint.pt')
    torch.save({'rng': obj}, out / 'legacy.pt', _use_new_zipfile_serialization=False)  # the old torch format too
    with pytest.raises(AlignNbError, match='legacy.pt: refused'): load_checkpoint(out / 'legacy.pt')

def test_truncated_checkpoint_names_path_and_hint(tmp_path):
    class Stop(Exception): pass
    def stop(step, row):
        if step == 3: raise Stop()
    with pytest.raises(Stop): _distill(tmp_path, callback=stop)
    ck = tmp_path / 'checkpoint.pt'
    assert torch.load(ck, weights_only=True)['step'] == 2  # tensors and plain types only
    ck.write_bytes(ck.read_bytes()[:ck.stat().st_size // 2])
    with pytest.raises(AlignNbError, match=f'{ck}: cannot read the checkpoint \\(truncated or damaged.*resume=False'): _distill(tmp_path)
    met = _distill(tmp_path, resume=False)  # the hint works
    assert met['complete'] and is_complete(tmp_path)



# ---------------------------------------------------------------- CIFAR weights

def test_planted_cifar_weights_never_run(payload, tmp_path):
    obj, marker, glob = payload
    p = tmp_path / 'resnet20-evil.th'
    torch.save({'best_prec1': 91.0, 'state_dict': obj}, p)
    with pytest.raises(AlignNbError, match=f'{p}: refused') as e: rd.load_cifar_resnet('resnet20', p)
    assert glob in str(e.value)
    torch.save({'best_prec1': 91.0, 'state_dict': obj}, p, _use_new_zipfile_serialization=False)  # legacy format, as the published files
    with pytest.raises(AlignNbError, match=f'{p}: refused'): rd.load_cifar_resnet('resnet20', p)
    import timm  # timm's own loader (pretrained_cfg file) loads with weights_only=True as well
    with pytest.raises(Exception): timm.create_model('cifar_resnet20', pretrained=True, pretrained_cfg_overlay=dict(file=str(p)))

def test_published_cifar_weights_load_safely(shared_data):
    for d in rd.CIFAR_DEPTHS:
        f = next((shared_data / 'cifar_resnet').glob(f'resnet{d}-*.th'))
        assert isinstance(torch.load(f, map_location='cpu', weights_only=True), dict)
    m, top1 = rd.load_cifar_resnet('resnet20', next((shared_data / 'cifar_resnet').glob('resnet20-*.th')))
    assert top1 > 90

# ---------------------------------------------------------------- Levels pickle (load_levels and the full-scale dry run)

def _trial(**kw):
    return {'image1Path': 'n01_1.JPEG', 'image2Path': 'n01_2.JPEG', 'image3Path': 'n02_1.JPEG', 'selected_image': 'n02_1.JPEG',
            'exp_trial_type': 'exp_trial', 'triplet_type': 'class_border', 'rt': 812.0, **kw}

@pytest.mark.parametrize('where', ['top', 'participant', 'trial', 'rt'])
def test_planted_levels_pickle_never_runs(payload, tmp_path, where):
    obj, marker, glob = payload
    data = {'top': obj, 'participant': {'p1': obj}, 'trial': {'p1': [obj]}, 'rt': {'p1': [_trial(rt=obj)]}}[where]
    p = tmp_path / 'pruned_dataset.pkl'
    with open(p, 'wb') as f: pickle.dump(data, f)
    with pytest.raises(AlignNbError, match=f'{p}: refused to unpickle the global {glob}'): rd.load_levels(p, tmp_path, check_files=False)
    assert not marker.exists()

def test_planted_levels_pickle_in_the_dry_run(payload, tmp_path):
    obj, marker, glob = payload
    from align_nb.fullscale import dry_run
    p = tmp_path / 'levels.pkl'
    with open(p, 'wb') as f: pickle.dump({'p1': [obj]}, f)
    rep = dry_run({'levels_pkl': str(p)}, raise_on_error=False)
    assert not rep['checks']['levels_pkl']['ok'] and f'{p}: refused to unpickle the global {glob}' in rep['checks']['levels_pkl']['error']
    assert not marker.exists()

def test_levels_documented_format_still_loads_with_numpy_values(tmp_path):
    p = tmp_path / 'l.pkl'
    for proto in (2, 4, 5):
        with open(p, 'wb') as f: pickle.dump({'p1': [_trial(rt=np.float64(0.5)), _trial(exp_trial_type='catch')], np.str_('p2'): [_trial(rt=np.int64(700))]}, f, protocol=proto)
        ims, tr = rd.load_levels(p, tmp_path, check_files=False)
        assert len(tr) == 2 and tr.rt.tolist() == [0.5, 700.0] and tr.subject.tolist() == ['p1', 'p2']

def test_levels_pandas_pickle_is_refused_with_advice(tmp_path):
    import pandas as pd
    p = tmp_path / 'df.pkl'
    pd.DataFrame([_trial()]).to_pickle(p)
    with pytest.raises(AlignNbError, match=f'{p}: refused to unpickle the global pandas.*pandas objects are not accepted'): rd.load_levels(p, tmp_path)

@pytest.mark.parametrize('rt', [float('nan'), float('inf'), -3.0, 'abc', None])
def test_levels_bad_reaction_time_names_participant_and_trial(tmp_path, rt):
    p = tmp_path / 'l.pkl'
    with open(p, 'wb') as f: pickle.dump({'p1': [_trial()], 'p7': [_trial(), _trial(rt=rt)]}, f)
    with pytest.raises(AlignNbError, match=f"{p}: participant 'p7', trial 1: reaction time rt="): rd.load_levels(p, tmp_path, check_files=False)
    assert rd.load_levels(p, tmp_path, check_files=False, rt_key=None)[1].rt is None  # the documented way to ignore RTs

# ---------------------------------------------------------------- .npy / .npz with object arrays

def test_planted_object_arrays_never_run(payload, tmp_path):
    obj, marker, glob = payload
    from align_nb.triplets import AlignetTriplets
    from align_nb.teacher import Teacher
    evil = np.array([[obj, 'b.JPEG', 'c.JPEG']], dtype=object)
    np.savez(tmp_path / 'val.npz', filenames=evil, similarities=np.array([[2., 1., 0.]]), indices=np.array([[0, 1, 2]]))
    with pytest.raises(AlignNbError, match=f"val.npz\\[filenames\\]: refused to unpickle the global {glob}"): AlignetTriplets.load(tmp_path / 'val.npz')
    with pytest.raises(AlignNbError, match='val.npz.*refused'): safe_np_load(tmp_path / 'val.npz')
    np.save(tmp_path / 'x.npy', np.array([obj], dtype=object), allow_pickle=True)
    with pytest.raises(AlignNbError, match='x.npy: refused'): safe_np_load(tmp_path / 'x.npy')
    for fn in (rd.load_vice, rd.load_vice_probs, rd.load_rdms):
        with pytest.raises(AlignNbError, match='x.npy'): fn(tmp_path / 'x.npy')
    np.savez(tmp_path / 'r.npz', rdm=np.array([obj], dtype=object))
    with pytest.raises(AlignNbError, match='r.npz'): rd.load_rdms(tmp_path / 'r.npz')
    np.savez(tmp_path / 't.npz', weights=np.array([obj], dtype=object), bias=np.zeros(2), mean=np.zeros(2), std=np.ones(2))
    with pytest.raises(Exception, match='t.npz'): Teacher.load(tmp_path / 't.npz')

def test_safe_unpickle_refuses_persistent_ids_and_names_damage(tmp_path):
    import io
    class P(pickle.Pickler):
        def persistent_id(self, o): return 'pid' if isinstance(o, str) and o == 'ext' else None
    b = io.BytesIO(); P(b).dump({'a': 'ext'}); (tmp_path / 'p.pkl').write_bytes(b.getvalue())
    with pytest.raises(AlignNbError, match='p.pkl: refused: the pickle holds a persistent id'): safe_unpickle(tmp_path / 'p.pkl')
    (tmp_path / 'cut.pkl').write_bytes(pickle.dumps({'a': list(range(100))})[:40])
    with pytest.raises(AlignNbError, match='cut.pkl: cannot unpickle'): safe_unpickle(tmp_path / 'cut.pkl')

# ---------------------------------------------------------------- backbone weights files

def test_planted_backbone_weights_never_run(payload, tmp_path):
    obj, marker, glob = payload
    from align_nb.backbones import load_backbone
    p = tmp_path / 'weights.pth'
    torch.save({'conv1.weight': obj}, p)
    with pytest.raises(AlignNbError, match=f'{p}: cannot read weights file'): load_backbone('resnet10t', weights=p)

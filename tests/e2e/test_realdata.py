"Real-data loaders in a fresh interpreter: `import align_nb` does not import torch; once realdata is imported timm knows the CIFAR models."
import os, subprocess, sys
import pytest
from align_nb.core import shared_data_dir

pytestmark = pytest.mark.e2e
DATA = shared_data_dir()

def need(sub):
    "Skip unless the shared data folder holds `sub`."
    if DATA is None or not (DATA / sub).exists(): pytest.skip(f'shared data {sub} not available (set ALIGN_NB_DATA)')
    return DATA / sub

def test_light_package_import_timm_registration_and_pretrained_file():
    "In a fresh interpreter: `import align_nb` does not import torch; importing backbones (which imports realdata) registers the models with timm."
    f = next(need('cifar_resnet').glob('resnet20-*.th'))
    code = f"""
import sys, os
os.environ['HF_HUB_OFFLINE'] = '1'
import align_nb
assert 'torch' not in sys.modules and 'timm' not in sys.modules  # the package itself stays light
import align_nb.backbones  # imports realdata: its `@register_model` entry points are registered on import
import timm, torch
import align_nb.realdata as rd
assert timm.models.get_pretrained_cfg('cifar_resnet20').input_size == (3, 32, 32)  # with its pretrained config
assert {{'cifar_resnet20', 'cifar_resnet32', 'cifar_resnet44', 'cifar_resnet56'}} <= set(timm.list_models('cifar_resnet*'))
m = timm.create_model('cifar_resnet20', pretrained=True, pretrained_cfg_overlay=dict(file=r'{f}')).eval()
ref, top1 = rd.load_cifar_resnet('resnet20', r'{f}')
x = torch.randn(2, 3, 32, 32)
with torch.no_grad(): assert torch.equal(m(x), ref(x))
cfg = timm.data.resolve_model_data_config(m)
assert cfg['input_size'] == (3, 32, 32) and cfg['mean'] == (0.485, 0.456, 0.406), cfg
m0 = timm.create_model('cifar_resnet56', num_classes=0)
assert m0(x).shape == (2, 64)
print('ok')
"""
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120,
                       env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0 and 'ok' in r.stdout, r.stderr[-3000:]

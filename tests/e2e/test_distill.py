"Distillation in a fresh interpreter: importing align_nb.distill does not import torch."
import subprocess, sys
import pytest

pytestmark = pytest.mark.e2e

def test_import_is_light():
    r = subprocess.run([sys.executable, '-c', "import sys, align_nb.distill; print('torch' in sys.modules)"], capture_output=True, text=True)
    assert r.stdout.strip() == 'False', r.stderr

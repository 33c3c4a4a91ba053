"Distillation in a fresh interpreter: `import align_nb` does not import torch; the distill module's torch classes are plain top-level classes."
import subprocess, sys
import pytest

pytestmark = pytest.mark.e2e

def test_package_import_is_light_and_torch_classes_are_top_level():
    code = ("import sys, align_nb; print('torch' in sys.modules)\n"
            "import align_nb.distill as d, timm\n"
            "print(all(c.__module__ == 'align_nb.distill' and c.__qualname__ == c.__name__ and c.__name__ in vars(d)"
            " for c in (d.Student, d.AdamDecayToInit, d.TripletImages)), hasattr(d, '__getattr__'), timm.is_model('cifar_resnet20'))")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert r.stdout.split() == ['False', 'True', 'False', 'True'], r.stdout + r.stderr

"A checkpoint write killed half way (as by kill -9) leaves no temp file in the completed folder once the run resumes."
import subprocess, sys, textwrap
from pathlib import Path
import pytest
from align_nb.core import is_complete
from helpers import tiny_distill as _distill

pytestmark = pytest.mark.e2e

KILL = textwrap.dedent('''
    import os, sys, torch
    sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
    import helpers as T
    real = torch.save
    n = [0]
    def save(obj, f, *a, **k):  # the second checkpoint write is killed half way (as by kill -9): no cleanup can run
        n[0] += 1
        if n[0] == 2:
            with open(f, 'wb') as fh: fh.write(b'x' * 1_000_000)
            os._exit(9)
        return real(obj, f, *a, **k)
    torch.save = save
    T.tiny_distill({out!r})
''')

def test_killed_checkpoint_write_leaves_no_temp_file_in_the_complete_folder(tmp_path):
    root, tests = str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parents[1])  # the repository, tests/
    r = subprocess.run([sys.executable, '-c', KILL.format(root=root, tests=tests, out=str(tmp_path))], capture_output=True, text=True, timeout=300)
    assert r.returncode == 9, r.stderr[-2000:]
    temps = [p.name for p in tmp_path.iterdir() if p.name.startswith('.checkpoint.pt.')]
    assert len(temps) == 1 and not is_complete(tmp_path)  # what a killed write leaves
    met = _distill(tmp_path)  # resumes from the step-2 checkpoint, finishes
    assert met['complete'] and is_complete(tmp_path)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith('.')] == []

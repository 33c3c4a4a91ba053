"Released AligNet data end to end: the `align-nb triplets inspect` CLI, the real_distill notebook and the full-scale study training from the release."
import json, subprocess, sys
from pathlib import Path
import pytest
from align_nb import release as R
from helpers import IMAGENET_SAMPLE as SAMPLE

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not SAMPLE.is_dir(), reason='shared ImageNet sample not found')]

def test_cli_exit_codes_and_reorder(rel, broken, tmp_path):
    cmd = [sys.executable, '-m', 'align_nb.cli', 'triplets', 'inspect']
    ok = subprocess.run(cmd + [str(rel['train']), '--images', str(SAMPLE), '--filenames', str(rel['root'] / R.TFDS_LIST_NAME)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.strip().splitlines()[-1].startswith('VERDICT: OK')
    p, bad = broken['misordered']
    out = tmp_path / 'fixed.npz'
    bad_run = subprocess.run(cmd + [str(p), '--reorder', str(out), '--json', str(tmp_path / 'r.json')], capture_output=True, text=True)
    assert bad_run.returncode == 1 and 'VERDICT: NOT AS CLAIMED' in bad_run.stdout and f'rows {bad[:20].tolist()}'[:-1] in bad_run.stdout
    assert out.is_file() and json.loads((tmp_path / 'r.json').read_text())['ok'] is False
    again = subprocess.run(cmd + [str(out)], capture_output=True, text=True); assert again.returncode == 0, again.stdout

def test_fullscale_study_trains_from_the_release_end_to_end(rel, tmp_path):
    "`align-nb fullscale` with alignet_release_dir: the teacher run generates no triplets, the student trains from the released files, the evaluation runs."
    from align_nb.core import load_json, is_complete
    from align_nb.cli import main
    import helpers as tfs  # tests/helpers.py: the full-scale study's small inputs
    cfg = tfs.make_fullscale_inputs(tmp_path / 'in')
    cfg.alignet_release_dir = str(rel['root']); cfg.alignet_release_filenames = str(rel['root'] / R.TFDS_LIST_NAME); cfg.variants = ('alignet',)
    cfg.to_json(tmp_path / 'fs.json')
    assert main(['fullscale', str(tmp_path / 'fs.json')]) == 0
    runs = Path(cfg.runs_dir)
    assert load_json(runs / 'teacher' / 'metrics.json')['triplets'] == {} and not (runs / 'teacher' / 'triplets').exists()
    dm = load_json(runs / 'distill' / 'regnetx_002-alignet' / 'metrics.json')
    assert dm['n_train'] == 600 and dm['n_val'] == 100 and Path(dm['triplets_dir']) == rel['train'].parent and dm['monitor']['history']
    assert is_complete(runs / 'evaluate')

def test_real_distill_trains_from_the_release_with_the_monitor(rel, tmp_path):
    "The full-scale configuration pointed at released files + an ImageNet folder: real_distill streams them, no teacher run, and the monitor reports."
    from align_nb.fullscale import FullScaleConfig
    from align_nb.runner import run_notebook
    from align_nb.core import load_json
    cfg = FullScaleConfig(imagenet_train_dir=str(SAMPLE.parent), alignet_release_dir=str(rel['root']), alignet_release_filenames=str(rel['root'] / R.TFDS_LIST_NAME),
                          students=('regnetx_002',), students_pretrained=False, image_size=32, device='cpu', variants=('alignet',),
                          distill={'steps': 4, 'batch_size': 8, 'warmup': 1, 'eval_every': 2, 'checkpoint_every': 4, 'log_every': 1, 'num_workers': 0, 'head_dim': 16})
    cfg.to_json(tmp_path / 'cfg.json')
    r = run_notebook('real_distill.ipynb', tmp_path / 'run', {'config': str(tmp_path / 'cfg.json'), 'backbone': 'regnetx_002', 'variant': 'alignet', 'device': 'cpu', 'monitor_after': 2})
    assert r['status'] == 'complete', load_json(tmp_path / 'run' / 'FAILED.json')['message'] if (tmp_path / 'run' / 'FAILED.json').is_file() else r
    m = load_json(tmp_path / 'run' / 'metrics.json')
    assert m['n_train'] == 600 and m['n_val'] == 100 and m['triplets_dir'].endswith('uncertainty_distillation')
    assert [h[0] for h in m['monitor']['history']] == [2, 4] and m['monitor']['patience'] == 2

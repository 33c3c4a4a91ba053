"""The full-scale study's configuration in process: the dry run, notebook parameters, bad values refused by type and
range. Its end-to-end runs (through the same notebooks and runner, `align-nb fullscale CONFIG`, small inputs in the
documented formats from tests/helpers.py `make_fullscale_inputs`) are in tests/e2e/test_fullscale.py,
tests/e2e/test_fullscale_launch.py and tests/e2e/test_release.py."""
import os
os.environ['HF_HUB_OFFLINE'] = '1'
import json
from pathlib import Path
import pytest
from align_nb.core import AlignNbError, shared_data_dir
from align_nb.fullscale import FullScaleConfig, plan_fullscale, dry_run
from align_nb.cli import main
from helpers import make_fullscale_inputs, needs_data

DATA = shared_data_dir()
needs_data = pytest.mark.skipif(DATA is None or not (DATA / 'imagenet_sample').is_dir() or not (DATA / 'mur92').is_dir(),
                                reason='shared data folder absent')










@needs_data
def test_fullscale_stops_before_running_when_the_dry_run_fails(tmp_path, capsys):
    from align_nb.cli import main
    cfg = make_fullscale_inputs(tmp_path / 'in')
    cfg.levels_pkl = str(tmp_path / 'missing.pkl'); cfg.students = ('vit_nope_xyz',)
    cfg.to_json(tmp_path / 'bad.json')
    assert main(['fullscale', str(tmp_path / 'bad.json')]) == 1
    err = capsys.readouterr()
    assert '2 problem(s)' in err.err and 'missing.pkl' in err.out and 'vit_nope_xyz' in err.out
    assert not Path(cfg.runs_dir).exists()


def test_changed_config_changes_the_notebook_parameters(tmp_path):
    cfg = FullScaleConfig(runs_dir=str(tmp_path / 'runs'), students=('resnet10t',), device='cpu')
    a = plan_fullscale(cfg)
    b = plan_fullscale(FullScaleConfig(**{**cfg.__dict__, 'seed': 1}))
    assert a[0].parameters['config'] != b[0].parameters['config'] and Path(a[0].parameters['config']).is_file()
    assert FullScaleConfig.from_json(a[0].parameters['config']) == cfg
    assert a[0].parameters['backbone'] == cfg.teacher_backbone and a[0].parameters['lams'] == '0.01,0.1,1.0'


def test_fullscale_config_rejects_bad_values(tmp_path):
    with pytest.raises(AlignNbError, match='variants'): FullScaleConfig(variants=('base',))
    with pytest.raises(AlignNbError, match='n_val_triplets'): FullScaleConfig(n_triplets=10, n_val_triplets=10)
    with pytest.raises(AlignNbError, match=r"unknown fit_teacher option\(s\) \['lam'\]"): FullScaleConfig(teacher={'lam': 1})
    (tmp_path / 'c.json').write_text(json.dumps({'students': []}))
    with pytest.raises(AlignNbError, match=r'c\.json: .*at least one'): FullScaleConfig.from_json(tmp_path / 'c.json')

@pytest.mark.parametrize('field_, value, msg', [
    ('teacher_pretrained', 'false', "FullScaleConfig.teacher_pretrained: expected true or false (bool), got str 'false'"),
    ('students_pretrained', 0, 'FullScaleConfig.students_pretrained: expected true or false (bool), got int 0'),
    ('device', 'cuad', "FullScaleConfig.device: expected 'cpu', 'cuda', 'cuda:N' or 'mps', got 'cuad'"),
    ('k', 5.7, 'FullScaleConfig.k: expected an integer (int), got float 5.7'),
    ('n_triplets', '1000', "FullScaleConfig.n_triplets: expected an integer (int), got str '1000'"),
    ('n_triplets', True, 'FullScaleConfig.n_triplets: expected an integer (int), got bool True'),
    ('batch_size', 0, 'FullScaleConfig.batch_size: must be >= 1, got 0'),
    ('seed', -1, 'FullScaleConfig.seed: must be >= 0, got -1'),
    ('teacher_lams', [0.1, 'x'], "FullScaleConfig.teacher_lams[1]: expected a number (float), got str 'x'"),
    ('teacher_lams', [-1], 'FullScaleConfig.teacher_lams[0]: must be >= 0, got -1.0'),
    ('students', 'resnet10t', "FullScaleConfig.students: expected a list (tuple), got str 'resnet10t'"),
    ('distill', ['steps'], 'FullScaleConfig.distill: expected a JSON object (dict)'),
    ('stream_triplets', 'yes', "FullScaleConfig.stream_triplets: expected true or false (bool) or null (None), got str 'yes'"),
    ('runs_dir', 3, 'FullScaleConfig.runs_dir: expected a string (str), got int 3'),
])
def test_fullscale_config_fields_checked_by_type_and_range(tmp_path, field_, value, msg):
    with pytest.raises(AlignNbError) as e: FullScaleConfig(**{field_: value})
    assert msg in str(e.value)
    p = tmp_path / 'c.json'; p.write_text(json.dumps({field_: value}))
    with pytest.raises(AlignNbError) as e: FullScaleConfig.from_json(p)  # a JSON file: the path and the field are named
    assert str(p) in str(e.value) and msg in str(e.value)
    rep = dry_run(str(p), raise_on_error=False)  # the dry run reports it as a problem instead of passing
    assert not rep['ok'] and any(msg in x for x in rep['problems'])

def test_fullscale_good_values_normalised():
    c = FullScaleConfig(k=5.0, n_triplets=1e6, teacher_lams=[1, 2], students=['resnet10t'], device='cuda:1', stream_triplets=None)
    assert (c.k, c.n_triplets, c.teacher_lams, c.students) == (5, 1_000_000, (1.0, 2.0), ('resnet10t',))
    assert isinstance(c.k, int) and isinstance(c.n_triplets, int)
    for d in ('cpu', 'cuda', 'cuda:0', 'mps'): FullScaleConfig(device=d)

def test_fields_set_after_construction_are_checked_by_the_dry_run():
    c = FullScaleConfig(); c.device = 'gpu'; c.k = '8'
    rep = dry_run(c, raise_on_error=False)
    assert not rep['ok'] and 'FullScaleConfig.k' in rep['problems'][0]
    with pytest.raises(AlignNbError, match='FullScaleConfig.k'): dry_run(c)

def test_cli_fullscale_dry_run_reports_bad_fields(tmp_path, capsys):
    p = tmp_path / 'c.json'; p.write_text(json.dumps({'teacher_pretrained': 'false', 'device': 'cuad'}))
    assert main(['fullscale', str(p), '--dry-run']) == 1
    out = capsys.readouterr()
    assert 'teacher_pretrained' in out.out and 'nothing was run' in out.err

"""Configuration and notebook parameters are validated by type and range before anything runs (issue 10 item 5), and
one runner per job (item 6): two runners started together on one plan do every job exactly once."""
import json, os, subprocess, sys, textwrap, time
from dataclasses import dataclass, field
from pathlib import Path
import pytest

from align_nb.core import AlignNbError, check_fields, is_complete, load_json
from align_nb.fullscale import FullScaleConfig, dry_run
from align_nb.core import file_lock
from align_nb.runner import (LOCK_NAME, Job, demo_notebook, check_parameters, folder_busy, paper_notebook, run_jobs, run_notebook)
from align_nb.cli import main

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- FullScaleConfig
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


def test_check_fields_is_generic_so_new_fields_are_covered():
    "A field added later (e.g. a new option of another change) is checked by its annotation with no extra code."
    @dataclass
    class C:
        teacher_targets: str = 'model'
        sampling: str = 'shared'
        n: int|None = None
        opts: dict = field(default_factory=dict)
    with pytest.raises(AlignNbError, match="C.teacher_targets: expected a string"): check_fields(C(teacher_targets=1))
    with pytest.raises(AlignNbError, match="C.n: expected an integer .* or null"): check_fields(C(n='3'))
    assert check_fields(C(n=3.0)).n == 3


# ---------------------------------------------------------------- notebook parameters
def test_parameter_types_come_from_the_parameters_cell():
    nb = paper_notebook('evaluate')
    with pytest.raises(AlignNbError, match="parameter n_boot: expected an integer \\(int\\) like its default 1000, got str 'abc'"):
        check_parameters(nb, {'n_boot': 'abc'})
    with pytest.raises(AlignNbError, match="parameter quick: expected true or false"): check_parameters(nb, {'quick': 'false'})
    with pytest.raises(AlignNbError, match='parameter backbone: expected a string'): check_parameters(nb, {'backbone': 3})
    assert check_parameters(nb, {'n_boot': 10, 'seed': 2.0, 'backbone': 'vit'}) == {'n_boot': 10, 'seed': 2, 'backbone': 'vit'}


def test_cli_main_unknown_or_badly_typed_parameter_fails_up_front(tmp_path, capsys):
    runs = tmp_path / 'runs'
    assert main(['main', '--runs-dir', str(runs), '--figures-dir', str(tmp_path / 'f'), '-p', 'bogus=1']) == 2
    err = capsys.readouterr().err
    assert "['bogus']" in err and 'declared by none of the notebooks' in err and 'Traceback' not in err
    assert main(['main', '--runs-dir', str(runs), '--figures-dir', str(tmp_path / 'f'), '-p', 'n_boot=abc']) == 2
    err = capsys.readouterr().err
    assert 'parameter n_boot: expected an integer (int)' in err and "'eval/resnet-base'" in err and '9 job(s) with bad parameters' in err
    assert not runs.exists()  # nothing ran, nothing was written


def test_cli_run_bad_parameter(tmp_path, capsys):
    nb = demo_notebook(tmp_path / 'demo.ipynb')
    assert main(['run', str(nb), str(tmp_path / 'r'), '-p', 'x=abc']) == 2
    assert "parameter x: expected an integer (int) like its default 1, got str 'abc'" in capsys.readouterr().err
    assert main(['run', str(nb), str(tmp_path / 'r'), '-p', 'y=1']) == 2
    assert "unknown parameter(s) ['y']" in capsys.readouterr().err
    assert not (tmp_path / 'r').exists()


# ---------------------------------------------------------------- one runner per job
def test_lock_held_skipped_and_a_dead_holders_lock_is_free(tmp_path, capsys):
    nb = demo_notebook(tmp_path / 'demo.ipynb')
    d = tmp_path / 'run'
    # a lock held by a live process (this one, as if another runner): skip says so and does nothing
    with file_lock(d / LOCK_NAME, 'run folder'):
        assert folder_busy(d)
        r = run_notebook(str(nb), d, {'x': 1}, on_locked='skip')
        assert r['status'] == 'locked' and f'pid {os.getpid()}' in r['reason'] and not is_complete(d)
        assert 'skipping it' in capsys.readouterr().out
    # a lock file left by a dead process (its OS lock ended with it): nothing blocks the next runner
    (d / (LOCK_NAME + '.lock')).write_text(json.dumps({'pid': 2 ** 22 + 7, 'host': os.uname().nodename, 'since_utc': 'then'}))
    assert not folder_busy(d)
    r = run_notebook(str(nb), d, {'x': 1}, on_locked='skip')
    assert r['status'] == 'complete' and not folder_busy(d)


RUNNER = textwrap.dedent("""
    import sys, json
    from pathlib import Path
    from align_nb.runner import Job, run_jobs
    nb, root, mode = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    jobs = [Job(n, nb, root / n, {'x': i}) for i, n in enumerate(['a', 'b', 'c'])]
    jobs.append(Job('d', nb, root / 'd', {'x': 9}, depends=['a']))
    st = run_jobs(jobs, on_locked=mode, verbose=True)
    print('STATUS', json.dumps(dict(zip(st.job, st.status))))
""")


@pytest.mark.parametrize('mode', ['wait', 'skip'])
def test_two_runners_started_together_do_each_job_once(tmp_path, mode):
    # each job appends its name to a shared log, then sleeps: overlapping runners would log a job twice
    body = ("import time, os\nfrom align_nb.core import save_json\n"
            "with open(os.path.join(os.path.dirname(run_dir), 'log.txt'), 'a') as f: f.write(os.path.basename(run_dir) + '\\n')\n"
            "time.sleep(3)\nsave_json(f'{run_dir}/metrics.json', {'y': x})")
    nb = demo_notebook(tmp_path / 'slow.ipynb', body)
    root = tmp_path / 'runs'
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE='1', OMP_NUM_THREADS='1')
    procs = [subprocess.Popen([sys.executable, '-c', RUNNER, str(nb), str(root), mode], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    log = (root / 'log.txt').read_text().split()
    assert sorted(log) == ['a', 'b', 'c', 'd'], log  # every job ran exactly once
    for n in 'abcd': assert is_complete(root / n) and not folder_busy(root / n)
    st = [json.loads(o[0].split('STATUS ', 1)[1]) for o in outs]
    both = ''.join(o[0] for o in outs)
    for j in 'abcd':  # one runner ran it; the other skipped it (found it complete, or locked in 'skip' mode)
        assert sorted(s[j] for s in st)[0] == 'complete' and sorted(s[j] for s in st)[1] in (('skipped',) if mode == 'wait' else ('skipped', 'locked')), st
    if mode == 'wait': assert 'waiting for it' in both and 'the other runner is done' in both
    else: assert 'skipping it' in both and 'locked' in [s[j] for s in st for j in 'abcd']

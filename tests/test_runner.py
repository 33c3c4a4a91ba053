"""Runner, in process: bad notebooks and parameters refused before anything runs, plans, the CLI's refusals, and a
notebook cut short by a full disk (papermill replaced by a stand-in)."""
import errno
from pathlib import Path
import nbformat, pytest
import align_nb.core as core
from align_nb.core import AlignNbError, is_complete
from align_nb.runner import Job, demo_notebook, check_parameters, paper_notebook, run_jobs, run_notebook
from align_nb.cli import main

def test_notebook_without_parameters_cell_is_refused(tmp_path):
    nb = nbformat.v4.new_notebook(); nb.cells = [nbformat.v4.new_code_cell('x = 1')]
    p = tmp_path / 'noparams.ipynb'; nbformat.write(nb, str(p))
    with pytest.raises(AlignNbError, match='no cell tagged "parameters"'):
        run_notebook(str(p), tmp_path / 'run')
    assert not (tmp_path / 'run').exists()

def test_unknown_parameter_is_refused_and_nothing_is_written(tmp_path):
    nb = demo_notebook(tmp_path / 'demo.ipynb')
    with pytest.raises(AlignNbError, match=r"unknown parameter\(s\) \['y'\]"):
        run_notebook(str(nb), tmp_path / 'run', {'y': 1})
    assert not (tmp_path / 'run').exists()

def test_plans_pass_absolute_paths_because_notebooks_run_in_their_own_folders(tmp_path, monkeypatch):
    from align_nb.toy_study import plan_toyworld
    monkeypatch.chdir(tmp_path)
    jobs = plan_toyworld(backbones=['resnet'], runs_dir='relative/runs', figures_dir='figs')
    for j in jobs:
        assert Path(j.run_dir).is_absolute(), j
        for k in ('teacher_dir', 'student_dir', 'runs_root', 'figures_dir'):
            if j.parameters.get(k): assert Path(j.parameters[k]).is_absolute(), (j.name, k, j.parameters[k])
    assert jobs[0].run_dir == tmp_path / 'relative/runs/toyworld/teacher'

def test_unknown_plan_names_the_known_ones(capsys):
    from align_nb.cli import get_plan
    with pytest.raises(AlignNbError, match=r"unknown plan 'mian' \(did you mean 'main'\?\); known plans: \['fullscale', 'main', 'real'"):
        get_plan('mian')
    assert main(['mian']) == 2
    assert "unknown plan 'mian'" in capsys.readouterr().err

def test_the_toyworld_plan_starts_its_teacher_first_and_figures_last(tmp_path):
    from align_nb.toy_study import plan_toyworld
    from align_nb.runner import critical_path
    jobs = plan_toyworld(runs_dir=tmp_path, figures_dir=tmp_path / 'figs')
    prio = critical_path(jobs)
    assert max(prio, key=prio.get) == 'teacher'  # the head of teacher -> distillations -> evaluations
    assert all(prio['teacher'] > prio[j.name] for j in jobs if j.name != 'teacher')
    assert jobs[-1].name == 'figures' and jobs[-1].always  # always-jobs start after every earlier job has ended

def test_bad_worker_counts_are_refused(tmp_path, capsys):
    nb = demo_notebook(tmp_path / 'demo.ipynb')
    with pytest.raises(AlignNbError, match='workers must be an integer >= 1, got 0'):
        run_jobs([Job('a', str(nb), tmp_path / 'a')], workers=0)
    assert not (tmp_path / 'a').exists()

def test_truncated_partial_notebook_is_not_kept_as_failed_notebook(tmp_path, monkeypatch):
    "A partly executed notebook that was cut short (e.g. the disk filled while papermill wrote it) is removed, not kept."
    import papermill
    from align_nb.runner import demo_notebook, run_notebook
    nb = demo_notebook(tmp_path / 'demo.ipynb')
    def fake_execute(inp, out, **kw):
        Path(out).write_text('{"cells": [{"cell_type": "code", "sou')  # cut short
        raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(papermill, 'execute_notebook', fake_execute)
    r = run_notebook(str(nb), tmp_path / 'run', {'x': 1})
    assert r['status'] == 'failed' and 'cut short' in r['error']
    d = tmp_path / 'run'
    assert not (d / 'notebook.failed.ipynb').exists() and not (d / '.notebook.running.ipynb').exists() and not is_complete(d)
    assert core.load_json(d / 'FAILED.json')['error'] == 'OSError'

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

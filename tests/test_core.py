"Core: where run folders land (the runs-folder rule, also in paper notebooks) and the generic dataclass field checks."
import json
from dataclasses import dataclass, field
from pathlib import Path
import pytest
from align_nb.core import AlignNbError, check_fields, default_runs_dir, project_root

def test_runs_dir_is_the_projects_runs_from_any_subfolder(tmp_path, monkeypatch):
    (tmp_path / 'nbs' / 'paper').mkdir(parents=True)
    (tmp_path / 'settings.ini').write_text('[DEFAULT]\nrepo = align_nb\nlib_name = align_nb\n')
    monkeypatch.delenv('ALIGN_NB_RUNS', raising=False)
    monkeypatch.chdir(tmp_path / 'nbs' / 'paper')  # a paper opened in JupyterLab runs with its own folder as cwd
    assert project_root() == tmp_path.resolve()
    assert default_runs_dir() == tmp_path.resolve() / 'runs'

def test_runs_dir_env_wins_and_other_projects_are_not_ours(tmp_path, monkeypatch):
    (tmp_path / 'sub').mkdir()
    (tmp_path / 'settings.ini').write_text('[DEFAULT]\nlib_name = someone_else\n')
    monkeypatch.delenv('ALIGN_NB_RUNS', raising=False)
    monkeypatch.chdir(tmp_path / 'sub')
    assert project_root() is None and default_runs_dir() == Path('runs')  # no align_nb project above: ./runs as before
    monkeypatch.setenv('ALIGN_NB_RUNS', str(tmp_path / 'elsewhere'))
    assert default_runs_dir() == tmp_path / 'elsewhere'

def test_paper_notebooks_use_the_runs_rule(root):
    "No paper builds its default run folder from a bare relative 'runs/' (that wrote runs/ inside nbs/paper)."
    for nb in sorted((root / 'nbs' / 'paper').glob('*.ipynb')):
        src = ''.join(''.join(c['source']) for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'code')
        assert "f'runs/" not in src and '"runs/' not in src, nb.name

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


def test_lock_folder_must_be_private_and_lock_paths_resolve_symlinks(tmp_path, monkeypatch):
    "A lock folder others can write is refused (a planted folder in a shared /tmp); one folder gets one lock, via a symlink too."
    import os, pytest
    from align_nb.core import AlignNbError, file_lock, lock_path
    shared = tmp_path / 'locks'; shared.mkdir(); os.chmod(shared, 0o777)
    monkeypatch.setenv('ALIGN_NB_LOCK_DIR', str(shared))
    with pytest.raises(AlignNbError, match='closed to others'):
        with file_lock(tmp_path / 'entry'): pass
    monkeypatch.setenv('ALIGN_NB_LOCK_DIR', 'relative/locks')
    with pytest.raises(AlignNbError, match='absolute'): lock_path(tmp_path / 'entry')
    monkeypatch.setenv('ALIGN_NB_LOCK_DIR', str(tmp_path / 'private'))
    (tmp_path / 'real').mkdir(); (tmp_path / 'link').symlink_to(tmp_path / 'real')
    assert lock_path(tmp_path / 'link' / '.runner') == lock_path(tmp_path / 'real' / '.runner') == lock_path(tmp_path / 'real' / 'x' / '..' / '.runner')
    with file_lock(tmp_path / 'link' / '.runner', wait=False) as a:
        with file_lock(tmp_path / 'real' / '.runner', wait=False) as b: assert a is not None and b is None

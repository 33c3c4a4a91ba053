"""Shared caches under parallel jobs: one process computes an entry, the others wait and read it; a killed holder blocks nobody."""
import subprocess, sys, time
import pytest
from pathlib import Path

pytestmark = pytest.mark.e2e

def _start(script_text, tmp_path, name, *args):
    f = tmp_path / f'{name}.py'; f.write_text(script_text)
    return subprocess.Popen([sys.executable, str(f), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

_GO = ("import os, sys, time\nfrom pathlib import Path\nPath(sys.argv[1] + f'.{os.getpid()}.ready').write_text('')\n"
       "while not Path(sys.argv[1]).exists(): time.sleep(0.01)\n")  # say 'ready', then start together

def _go(go, n=2):
    "Let the processes go once all `n` have said they are ready."
    while len(list(go.parent.glob(go.name + '.*.ready'))) < n: time.sleep(0.05)
    go.write_text('')

def _lock_free(entry) -> bool:
    "Nobody holds the lock of `entry` (this process can take it at once)."
    from align_nb.core import file_lock
    with file_lock(entry, wait=False) as got: return got is not None

def test_two_processes_one_entry_computed_once(tmp_path):
    script = "from align_nb.core import cache_lock\n" + _GO + ("entry = Path(sys.argv[2])\n"
                    "with cache_lock(entry, 'demo entry'):\n"
                    "    if entry.exists(): print('read', entry.read_text())\n"
                    "    else:\n        time.sleep(1.0); entry.write_text('made'); print('computed')\n")
    go, entry = tmp_path / 'go', tmp_path / 'entry.txt'
    ps = [_start(script, tmp_path, 'p', go, entry) for _ in range(2)]
    _go(go)
    outs = [p.communicate(timeout=180) for p in ps]
    assert all(p.returncode == 0 for p in ps), outs
    assert sorted(o.strip() for o, _ in outs) == ['computed', 'read made']  # without the lock both would compute
    assert any('busy (pid' in e for _, e in outs)  # the second one said whom it waited for
    assert _lock_free(tmp_path / 'entry.txt')

def test_a_killed_holder_does_not_block_the_next_process(tmp_path):
    holder = _GO + "from align_nb.core import cache_lock\nwith cache_lock(Path(sys.argv[2])):\n    print('locked', flush=True); time.sleep(600)\n"
    go, entry = tmp_path / 'go', tmp_path / 'entry.txt'
    p = _start(holder, tmp_path, 'holder', go, entry); _go(go, 1)
    assert p.stdout.readline().strip() == 'locked'
    p.kill(); p.wait()
    from align_nb.core import lock_holder
    assert lock_holder(entry)['pid'] == p.pid  # the killed holder's lock file names it, but it no longer locks
    nxt = _start(_GO + "from align_nb.core import cache_lock\nwith cache_lock(Path(sys.argv[2])): print('got it')\n", tmp_path, 'next', go, entry)
    out, err = nxt.communicate(timeout=120)
    assert nxt.returncode == 0 and out.strip() == 'got it', err

def test_two_processes_build_one_world(tmp_path):
    script = ("from align_nb.toyworld import ToyConfig, make_toyworld\n" + _GO +  # imported before the common start
              "cfg = ToyConfig(n_super=3, n_basic=3, n_sub=2, pool_per_concept=3, shift_per_concept=2, levels_per_concept=3, n_things_train=400,"
              " n_things_val=50, n_things_test=30, n_levels_per_kind=15, n_rdm=12, n_calib=400)\n"
              "w = make_toyworld(cfg, cache_dir=sys.argv[2]); print('hit' if w.cache_hit else 'built')\n")
    go = tmp_path / 'go'
    ps = [_start(script, tmp_path, 'w', go, tmp_path / 'cache') for _ in range(2)]
    _go(go)  # both have imported: they ask for the world at the same time
    outs = [p.communicate(timeout=300) for p in ps]
    assert all(p.returncode == 0 for p in ps), outs
    assert sorted(o.strip() for o, _ in outs) == ['built', 'hit']
    entries = list((tmp_path / 'cache' / 'toyworld').iterdir())
    assert entries and not [p for p in entries if p.name.endswith('.lock')] and all(_lock_free(p) for p in entries)

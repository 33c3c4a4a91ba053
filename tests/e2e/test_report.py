"The report card through the CLI (`align-nb report`) and its paper notebook."
import pandas as pd
import pytest

pytestmark = pytest.mark.e2e

def test_cli_report_and_paper_notebook(tmp_path):
    from align_nb.runner import run_notebook
    from align_nb.cli import main
    assert main(['report', 'pixels', '--data', 'toyworld', '--baselines', '--n-boot', '20', '--run-dir', str(tmp_path / 'cli')]) == 0
    t = pd.read_csv(tmp_path / 'cli' / 'report.csv')
    assert set(t.dataset) == {'toyworld-things', 'toyworld-levels', 'toyworld-rdm'} and t.score.notna().all()
    assert main(['report', 'pixels', '--data', str(tmp_path / 'nope.json')]) == 2  # a clear one-line error
    res = run_notebook('report_card.ipynb', tmp_path / 'paper', dict(models=['pixels'], datasets='toyworld', baselines=[], n_boot=20))
    assert res['status'] == 'complete', res
    assert len(pd.read_csv(tmp_path / 'paper' / 'report.csv')) == len(t)

"Readable papers: the runs-folder rule, tables shaped for reading, result sentences that follow the numbers, executed papers fit for committing."
import json
import numpy as np, pandas as pd, pytest
from align_nb.figures import (reading_table, fmt_ci, change_word, change_sentence, ceiling_sentence, wilson_ci, results_markdown,
                              clean_executed_notebook, publish_papers)

# --- where run folders land




# --- tables

def test_reading_table_drops_empty_columns_and_shows_counts_as_integers():
    t = pd.DataFrame({'model': ['a', 'b', 'c'], 'accuracy': [0.5, 0.25, 0.75], 'n': [480.0, 1440.0, np.nan],
                      'split': [np.nan] * 3, 'steps': [150.0, 150.0, 150.0]})
    r = reading_table(t)
    assert list(r.columns) == ['model', 'accuracy', 'n', 'steps']
    assert str(r.n.dtype) == 'Int64' and str(r.steps.dtype) == 'Int64' and r.n.isna().tolist() == [False, False, True]
    assert '480.0' not in r.to_string() and '480' in r.to_string()
    assert r.accuracy.dtype == np.float64 and t.shape == (3, 5)  # fractions untouched, the input unchanged

# --- sentences follow the numbers

@pytest.mark.parametrize('lo,hi,word', [(0.01, 0.09, 'raises'), (-0.09, -0.01, 'lowers'), (-0.02, 0.03, 'no clear change'),
                                        (0.0, 0.05, 'no clear change'), (np.nan, np.nan, 'no clear change')])
def test_direction_word_follows_the_interval(lo, hi, word):
    assert change_word(lo, hi) == word

def test_change_sentence_uses_the_paired_interval_when_given():
    s = change_sentence('AligNet (resnet)', 'coarse agreement', (0.48, 0.46, 0.50), (0.55, 0.52, 0.59), diff=(0.07, 0.05, 0.09), reference='base')
    assert s.startswith('AligNet (resnet) raises coarse agreement from 0.48 [0.46, 0.50] (base) to 0.55 [0.52, 0.59]')
    assert '+0.07 [+0.05, +0.09]' in s and 'over triplets' in s
    # the same two values, but a paired interval that contains 0: no direction is claimed
    s0 = change_sentence('AligNet (resnet)', 'coarse agreement', (0.48, 0.46, 0.50), (0.55, 0.52, 0.59), diff=(0.07, -0.01, 0.15))
    assert 'no clear change' in s0 and 'raises' not in s0 and 'includes 0' in s0
    assert change_sentence('A', 'x', (0.55, 0.52, 0.59), (0.48, 0.46, 0.50), diff=(-0.07, -0.09, -0.05)).startswith('A lowers x')

def test_change_sentence_without_pairing_needs_separate_intervals():
    assert change_sentence('A', 'x', (0.40, 0.38, 0.42), (0.50, 0.48, 0.52)).startswith('A raises x')
    assert change_sentence('A', 'x', (0.50, 0.48, 0.52), (0.40, 0.38, 0.42)).startswith('A lowers x')
    assert 'no clear change' in change_sentence('A', 'x', (0.40, 0.35, 0.45), (0.43, 0.38, 0.48), ci_over='stimuli')
    s = change_sentence('A', 'x', 0.40, 0.60)
    assert 'raises' not in s and 'no direction is claimed' in s

def test_ceiling_sentence_places_the_model():
    assert 'is below the noise ceiling' in ceiling_sentence('m', 'x', (0.48, 0.46, 0.50), (0.65, 0.63, 0.67), 'the noise ceiling')
    assert 'not distinguishable from' in ceiling_sentence('m', 'x', (0.60, 0.55, 0.66), (0.65, 0.63, 0.67))
    s = ceiling_sentence('m', 'RSA', (0.17, 0.08, 0.27), (np.nan, 0.465, 0.564), 'the noise-ceiling band', 'stimuli')
    assert 'below the noise-ceiling band, [0.47, 0.56]' in s and '95% interval over stimuli' in s

def test_formatting_and_wilson():
    assert fmt_ci(0.4812, 0.46, 0.5049) == '0.48 [0.46, 0.50]' and fmt_ci(0.5) == '0.50' and fmt_ci(np.nan) == 'n/a'
    v, lo, hi = wilson_ci(0, 20)
    assert v == 0 and lo == 0 and 0.1 < hi < 0.2  # Wilson never gives an empty interval at 0
    assert results_markdown(['a.', 'b.'], notes='n', heading='**x**') == '**x**\n\n- a.\n- b.\n\n*n*'

# --- executed papers fit for committing

def _executed(tmp_path):
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.metadata['papermill'] = {'duration': 3.2, 'start_time': '2026-01-01T00:00:00', 'end_time': '2026-01-01T00:00:03',
                                'input_path': '/abs/nbs/paper/x.ipynb', 'output_path': str(tmp_path / 'runs/x/.notebook.running.ipynb'),
                                'parameters': {'run_dir': str(tmp_path / 'runs' / 'x'), 'quick': True}, 'version': '2.7.0'}
    nb.metadata['widgets'] = {'application/vnd.jupyter.widget-state+json': {'state': {}}}
    c = nbformat.v4.new_code_cell('run()')
    c.metadata['papermill'] = {'duration': 1.0, 'status': 'completed'}
    c.metadata['execution'] = {'iopub.execute_input': '2026-01-01T00:00:01Z'}
    c.outputs = [nbformat.v4.new_output('display_data', {'application/vnd.jupyter.widget-view+json': {'model_id': 'ab'}, 'text/plain': 'fit: 10%'}),
                 nbformat.v4.new_output('stream', name='stderr', text='features:  50%|#####     | 1/2 [00:00<00:00,  5.47batch/s]\r'),
                 nbformat.v4.new_output('stream', name='stdout', text=f'wrote {tmp_path / "runs" / "x" / "levels.png"}\n'),
                 nbformat.v4.new_output('display_data', {'image/png': 'iVBORw0KGgo=', 'text/plain': '<Image>'})]
    nb.cells = [c]
    return nb

def test_clean_executed_notebook_strips_timings_widgets_and_paths(tmp_path):
    nb = clean_executed_notebook(_executed(tmp_path), {str(tmp_path / 'runs'): '$ALIGN_NB_RUNS'})
    txt = json.dumps(nb)
    assert 'duration' not in txt and 'start_time' not in txt and 'iopub' not in txt and 'widget' not in txt
    assert str(tmp_path) not in txt and 'wrote $ALIGN_NB_RUNS/x/levels.png' in txt
    assert nb.metadata.papermill == {'parameters': {'run_dir': '$ALIGN_NB_RUNS/x', 'quick': True}}
    kinds = [o.output_type for o in nb.cells[0].outputs]
    assert kinds == ['stream', 'display_data'] and 'image/png' in nb.cells[0].outputs[1].data  # the figure stays inline

def test_publish_papers_copies_complete_runs_only(tmp_path):
    import nbformat
    from align_nb.core import mark_complete
    for name, done in (('eval/resnet-base', True), ('eval/vit-base', False)):
        d = tmp_path / 'runs' / name; d.mkdir(parents=True)
        nbformat.write(_executed(tmp_path), str(d / 'notebook.ipynb'))
        if done: mark_complete(d)
    out = publish_papers({n: tmp_path / 'runs' / n for n in ('eval/resnet-base', 'eval/vit-base')}, tmp_path / 'figs' / 'papers', runs_dir=tmp_path / 'runs')
    assert [p.name for p in out] == ['eval_resnet-base.ipynb']
    first = out[0].read_bytes()
    publish_papers({'eval/resnet-base': tmp_path / 'runs' / 'eval/resnet-base'}, tmp_path / 'figs' / 'papers', runs_dir=tmp_path / 'runs')
    assert out[0].read_bytes() == first  # nothing in the copy changes from one publication to the next


def test_main_and_real_plans_publish_their_papers(root):
    # the command line publishes the papers a plan names; the main job (toy_study) and the real-data demo (real_demo) name figures_dir/papers
    assert "publish_papers(out['jobs'], Path(out['papers'])" in (root / 'align_nb' / 'cli.py').read_text()
    for mod in ('toy_study', 'real_demo'):
        assert "papers=Path(a.figures_dir) / 'papers'" in (root / 'align_nb' / f'{mod}.py').read_text(), mod

__version__ = "0.1.0"

def __getattr__(name):
    "`align_nb.evaluate_model` (the report card, `align_nb.report.evaluate_model`), imported on first use so `import align_nb` stays light."
    if name == 'evaluate_model':
        from .report import evaluate_model
        return evaluate_model
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')

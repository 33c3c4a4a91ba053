"""align_nb: align vision models with human similarity judgments across abstraction levels (the AligNet recipe in PyTorch)."""
__version__ = "0.1.0"

# The entry points a user needs, imported on first use (`import align_nb` stays light: no torch until one is asked for).
# This file is kept by hand (nbdev only writes `__version__` here); each name is defined in the notebook of its module.
_PUBLIC = {
    'evaluate_model': 'report',        # the report card: a model on human-similarity data sets -> tidy table + figure
    'report_card': 'report',           # several models on the same data sets
    'load_backbone': 'backbones',      # a timm backbone (hub, local weights, 'pixels', 'random:<name>')
    'extract_features': 'features',    # pooled features of an image set, content-keyed cache
    'odd_one_out_report': 'evaluate',  # odd-one-out accuracy, ceilings, uncertainty alignment with intervals
    'rsa_report': 'evaluate',          # RSA against human RDMs with the rsatoolbox noise ceiling
    'fit_human_model': 'human_model',  # SPoSE-style human similarity model (the teacher's soft targets)
    'fit_teacher': 'teacher',          # the affine human-aligned teacher
    'Teacher': 'teacher',
    'generate_triplets': 'triplets',   # AligNet triplets labelled by a teacher
    'inspect_triplets': 'release',     # the evidence report of an AligNet triplet file
    'DistillConfig': 'distill',        # the distillation recipe (`align_nb.distill.distill` runs it: the module shares its name)
    'make_toyworld': 'toyworld',       # the embedded default world
}
__all__ = ['__version__', *_PUBLIC]

def __getattr__(name):
    "The public entry points of `_PUBLIC`, imported from their module on first use."
    if name in _PUBLIC:
        import importlib
        return getattr(importlib.import_module(f'{__name__}.{_PUBLIC[name]}'), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')

def __dir__(): return sorted(set(globals()) | set(_PUBLIC))

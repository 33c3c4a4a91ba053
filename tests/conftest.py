import os
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture
def root(): return ROOT

@pytest.fixture
def shared_data():
    "The real data folder (../shared/data); skips the test when it is absent."
    from align_nb.core import shared_data_dir
    d = shared_data_dir()
    if d is None: pytest.skip('shared data folder not found (set ALIGN_NB_DATA or place shared/data beside the repo)')
    return d

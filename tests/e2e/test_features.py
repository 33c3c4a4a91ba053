"Feature extraction through DataLoader worker processes."
import numpy as np
import pytest
import torch
from align_nb.data import ArrayImages
from align_nb.backbones import load_backbone, make_transform
from align_nb.features import extract_features

from helpers import resnet_and_images
torch.set_num_threads(1)
pytestmark = pytest.mark.e2e

N = 20


@pytest.fixture(scope='module')
def setup(): return resnet_and_images(N)

def test_worker_processes_give_the_same_features(setup):
    m, tf, ims = setup
    a = extract_features(m, ims, tf, batch_size=6, progress=False)
    b = extract_features(m, ims, tf, batch_size=6, num_workers=1, progress=False)
    np.testing.assert_array_equal(a, b)

"""Model tests run single-threaded: their matmuls are tiny, and on a shared 2-core machine extra intra-op
threads mostly spin and wait (measured 5-20x slower under load)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

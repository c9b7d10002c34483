import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """The tests' models and clips are tiny: one thread runs them fastest, and on a shared 2-core
    CPU two threads mostly wait on each other. Denormals are flushed as in training."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    yield
    torch.set_num_threads(threads)

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest


@pytest.fixture(autouse=True)
def _no_fsync(monkeypatch):
    """Writes in tests need not survive a power loss: skip the fsyncs (atomicity does not depend on them;
    the kill -9 tests run the command in subprocesses, durable)."""
    import stagekit.files

    monkeypatch.setattr(stagekit.files, "DURABLE", False)

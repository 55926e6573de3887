import os
import signal

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# A shell without job control starts background commands with SIGINT ignored (`make test &`), and an ignored
# signal stays ignored across exec: the subprocesses of the Ctrl-C tests would never see theirs. Python's
# own handler here makes children start with the default again (a handler, unlike SIG_IGN, is reset on exec).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

import pytest


@pytest.fixture(autouse=True)
def _no_fsync(monkeypatch):
    """Writes in tests need not survive a power loss: skip the fsyncs (atomicity does not depend on them;
    the kill -9 tests run the command in subprocesses, durable)."""
    import stagekit.files

    monkeypatch.setattr(stagekit.files, "DURABLE", False)

# Typed as Any for the type checkers run over this repository (see typings/pyarrow/compute.pyi): stagekit is
# not checked against this optional extra's internals, and reading them from source takes pyright minutes.
from typing import Any

def __getattr__(name: str) -> Any: ...

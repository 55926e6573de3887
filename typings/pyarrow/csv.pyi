# pyarrow ships no type information (its classes live in a compiled module, and pyarrow.compute's functions
# are generated when it is imported), so for pyright, as for mypy (ignore_missing_imports), pyarrow is Any.
# These stubs say so explicitly; they are used only by the type checkers run over this repository.
from typing import Any

def __getattr__(name: str) -> Any: ...

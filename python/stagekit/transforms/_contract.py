"""The transform contract: Arrow tables in and out, declared columns, clear schema errors.

Every transform is a plain function ``f(table, *, options) -> pyarrow.Table``. The :func:`transform`
decorator declares the columns it reads (named by keyword options, so callers can rename them) and the
columns it writes; it converts the input to a ``pyarrow.Table`` (anything with the Arrow PyCapsule stream
interface, pandas, HF ``datasets``), validates every declared column, and appends the column contract to the
docstring, so documentation and validation come from one source.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["Col", "SchemaError", "as_table", "pipe", "transform"]

F = TypeVar("F", bound=Callable[..., pa.Table])


class SchemaError(ValueError):
    """A transform's input lacks a declared column or has it with the wrong type."""


_KINDS: dict[str, Callable[[pa.DataType], bool]] = {
    "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t),
    "bool": pa.types.is_boolean,
    "integer": pa.types.is_integer,
    "number": lambda t: pa.types.is_integer(t) or pa.types.is_floating(t),
    "list<string>": lambda t: (pa.types.is_list(t) or pa.types.is_large_list(t))
    and _KINDS["string"](t.value_type),
    "any": lambda t: True,
}

_CAST_NULL_TO = {
    "string": pa.string(),
    "bool": pa.bool_(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "list<string>": pa.list_(pa.string()),
}


@dataclass(frozen=True)
class Col:
    """A column a transform reads: named by the keyword ``option`` (its default is the usual name).

    ``kind`` is one of ``string``, ``bool``, ``integer``, ``number``, ``list<string>``, ``any``;
    ``nulls`` documents what a null in the column means. ``required=False`` columns are validated only
    when present. An option may name several columns (``by=("problem_id", "step")``).
    """

    option: str
    kind: str
    nulls: str = ""
    required: bool = True

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"unknown column kind {self.kind!r}")


def _plain_types(table: pa.Table) -> pa.Table:
    """Replace view types (``string_view``, as polars exports strings) by their plain equivalents, which
    every pyarrow kernel supports."""

    def plain(t: pa.DataType) -> pa.DataType:
        if pa.types.is_string_view(t):
            return pa.large_string()
        if pa.types.is_binary_view(t):
            return pa.large_binary()
        if pa.types.is_list_view(t) or pa.types.is_large_list_view(t):
            return pa.large_list(plain(t.value_type))
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            inner = plain(t.value_type)
            return t if inner == t.value_type else pa.large_list(inner)
        return t

    target = pa.schema([f.with_type(plain(f.type)) for f in table.schema])
    return table if target.equals(table.schema) else table.cast(target)


def as_table(data: Any, where: str = "stagekit") -> pa.Table:
    """Convert ``data`` to a ``pyarrow.Table`` (see :func:`_as_table`), with view types made plain."""
    return _plain_types(_as_table(data, where))


def _as_table(data: Any, where: str) -> pa.Table:
    """Convert ``data`` to a ``pyarrow.Table``: a Table, a RecordBatch, anything exposing
    ``__arrow_c_stream__`` (polars, DuckDB, ...), a pandas DataFrame, a Hugging Face ``datasets.Dataset``
    (through its Arrow table), or a dict of columns."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    inner = getattr(getattr(data, "data", None), "table", None)
    if isinstance(inner, pa.Table):  # datasets.Dataset
        return inner
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data)
    if type(data).__module__.startswith("pandas"):
        return pa.Table.from_pandas(data, preserve_index=False)
    if isinstance(data, dict):
        return pa.table(data)
    raise TypeError(
        f"{where}: expected a pyarrow.Table or an object with the Arrow PyCapsule stream interface, "
        f"got {type(data).__module__}.{type(data).__name__}"
    )


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def _describe(t: pa.DataType) -> str:
    return str(t)


def columns_present(table: pa.Table) -> str:
    """``name: type, ...`` of a table, for error messages."""
    return ", ".join(f"{n}: {table.schema.field(n).type}" for n in table.column_names) or "(none)"


def _validate(table: pa.Table, name: str, cols: Sequence[Col], options: dict[str, Any]) -> pa.Table:
    present = table.column_names
    for col in cols:
        for cname in _names(options.get(col.option)):
            if cname not in present:
                if not col.required:
                    continue
                raise SchemaError(
                    f"{name}: missing column {cname!r} (option {col.option}=, expected {col.kind}); "
                    f"columns present: {', '.join(present) or '(none)'}"
                )
            typ = table.schema.field(cname).type
            if pa.types.is_null(typ) and col.kind in _CAST_NULL_TO:
                # An all-null column (as JSON readers produce) is a column of nulls of the expected type.
                idx = present.index(cname)
                table = table.set_column(idx, cname, table[cname].cast(_CAST_NULL_TO[col.kind]))
                continue
            if not _KINDS[col.kind](typ):
                raise SchemaError(
                    f"{name}: column {cname!r} has type {_describe(typ)}, expected {col.kind}; "
                    f"columns present: {columns_present(table)}"
                )
    return table


def _contract_doc(reads: Sequence[Col], writes: Sequence[tuple[str, str]]) -> str:
    lines = ["", "Columns read (named by options):"]
    for c in reads:
        opt = f"``{c.option}``" + ("" if c.required else " (optional)")
        lines.append(f"    {opt}: {c.kind}" + (f"; nulls: {c.nulls}" if c.nulls else ""))
    if writes:
        lines.append("Columns written:")
        for n, d in writes:
            lines.append(f"    ``{n}``: {d}")
    return "\n".join(lines)


def transform(*, reads: Sequence[Col] = (), writes: Sequence[tuple[str, str]] = ()) -> Callable[[F], F]:
    """Declare a transform's column contract (see the module docstring)."""

    def deco(fn: F) -> F:
        sig = inspect.signature(fn)
        name = fn.__name__
        for c in reads:
            if c.option not in sig.parameters:
                raise TypeError(f"{name}: declared column option {c.option!r} is not a parameter")

        @functools.wraps(fn)
        def wrapper(table: Any, /, *args: Any, **kwargs: Any) -> pa.Table:
            try:
                bound = sig.bind(table, *args, **kwargs)
            except TypeError as e:
                raise TypeError(f"{name}(): {e}") from None
            bound.apply_defaults()
            t = as_table(table, name)
            t = _validate(t, name, reads, bound.arguments)
            first = next(iter(sig.parameters))
            bound.arguments[first] = t
            return fn(*bound.args, **bound.kwargs)

        wrapper.__doc__ = (fn.__doc__ or "").rstrip() + "\n" + _contract_doc(reads, writes) + "\n"
        wrapper.reads = tuple(reads)  # type: ignore[attr-defined]
        wrapper.writes = tuple(writes)  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return deco


def pipe(table: Any, *steps: Callable[[pa.Table], pa.Table]) -> pa.Table:
    """Apply ``steps`` in order: ``pipe(t, f, partial(g, k=8))`` is ``g(f(t), k=8)``.

    >>> import pyarrow as pa
    >>> pipe(pa.table({"x": [1]}), lambda t: t.append_column("y", pa.array([2]))).column_names
    ['x', 'y']
    """
    out = as_table(table, "pipe")
    for step in steps:
        out = step(out)
        if not isinstance(out, pa.Table):
            raise TypeError(f"pipe: step {getattr(step, '__name__', step)!r} returned {type(out).__name__}, not a Table")
    return out


def set_column(table: pa.Table, name: str, values: pa.Array | pa.ChunkedArray) -> pa.Table:
    """Replace column ``name`` (or append it)."""
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, values)
    return table.append_column(name, values)


def explode(table: pa.Table, column: str, *, into: str | None = None) -> pa.Table:
    """One row per element of the list column ``column`` (the other columns repeated), the elements in a
    column named ``into`` (default: ``column``)."""
    idx = pc.list_parent_indices(table[column])
    return table.drop_columns([column]).take(idx).append_column(into or column, pc.list_flatten(table[column]))

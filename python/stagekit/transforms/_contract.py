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
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["GOLD_FALLBACK", "Col", "SchemaError", "as_table", "pipe", "resolve_column", "transform"]

#: The gold answer column: ``answer``, else (trl's spelling) ``solution``, which may be a reference solution.
GOLD_FALLBACK = ("solution",)

P = ParamSpec("P")

#: What a transform takes as its table: anything :func:`as_table` converts (a pyarrow Table or RecordBatch,
#: a ``datasets.Dataset``, a pandas or polars frame, a mapping of columns, a list of row dicts, ...).
TableLike: TypeAlias = Any


class SchemaError(ValueError):
    """A transform's input lacks a declared column or has it with the wrong type."""


_KINDS: dict[str, Callable[[pa.DataType], bool]] = {
    "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t),
    # text: a string column; an integer, float or decimal column (numeric gold answers) is cast to strings
    "text": lambda t: _KINDS["string"](t) or _numeric(t),
    "bool": pa.types.is_boolean,
    "integer": pa.types.is_integer,
    "number": lambda t: pa.types.is_integer(t) or pa.types.is_floating(t),
    "list<string>": lambda t: (pa.types.is_list(t) or pa.types.is_large_list(t))
    and _KINDS["string"](t.value_type),
    "any": lambda t: True,
}

def _numeric(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


_CAST_NULL_TO = {
    "string": pa.string(),
    "text": pa.string(),
    "bool": pa.bool_(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "list<string>": pa.list_(pa.string()),
}


@dataclass(frozen=True)
class Col:
    """A column a transform reads: named by the keyword ``option`` (its default is the usual name).

    ``kind`` is one of ``string``, ``text`` (a string; numbers are cast to strings), ``bool``, ``integer``, ``number``, ``list<string>``, ``any``;
    ``nulls`` documents what a null in the column means. ``required=False`` columns are validated only
    when present. An option may name several columns (``by=("problem_id", "step")``). ``fallback`` names
    columns read instead when the option is left at its default and its column is absent (the gold answer:
    ``answer``, else trl's spelling ``solution``).
    """

    option: str
    kind: str
    nulls: str = ""
    required: bool = True
    fallback: tuple[str, ...] = ()

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
    """Convert ``data`` to a ``pyarrow.Table``, the one place where user input becomes a table:

    - a ``pyarrow.Table`` or ``RecordBatch``;
    - a Hugging Face ``datasets.Dataset``: the rows it selects (after ``filter``, ``shuffle``, ``select``,
      ``train_test_split``, ... a dataset is a view of its Arrow table through an indices mapping; the
      mapping is honoured, never the whole underlying table);
    - anything exposing ``__arrow_c_stream__`` (polars and DuckDB frames, ...); a polars ``LazyFrame`` is
      collected;
    - a pandas DataFrame;
    - a mapping of columns (a ``dict``, or the ``LazyBatch`` that ``datasets.Dataset.map(batched=True)``
      passes), or a list of row dicts.

    View types (``string_view``, as polars exports strings) are made plain.

    >>> as_table([{"a": 1}, {"a": 2}]).to_pydict()
    {'a': [1, 2]}
    """
    return _plain_types(_as_table(data, where))


def _as_table(data: Any, where: str) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    module = type(data).__module__
    hf = sys.modules.get("datasets")  # loaded if `data` is one of its objects; never imported here
    if hf is not None and isinstance(data, hf.Dataset):
        # A datasets.Dataset: `with_format("arrow")[:]` applies its indices mapping (the rows a filter,
        # shuffle, select or train_test_split left), where `.data.table` is the whole underlying table.
        return data.with_format("arrow")[:]
    if hf is not None and isinstance(data, (hf.DatasetDict, hf.IterableDataset, hf.IterableDatasetDict)):
        raise TypeError(
            f"{where}: got a {module}.{type(data).__name__}; pass a datasets.Dataset (from a DatasetDict: one "
            f"split, e.g. ds['train']; an IterableDataset: materialise it first, e.g. Dataset.from_list(list(ds)))"
        )
    if module.startswith("polars") and type(data).__name__ == "LazyFrame":
        data = data.collect()
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data)
    if module.startswith("pandas"):
        return pa.Table.from_pandas(data, preserve_index=False)
    if isinstance(data, Mapping):
        cols = {str(k): data[k] for k in data.keys()}
        scalar = [k for k, v in cols.items() if isinstance(v, (str, bytes, int, float, bool)) or v is None]
        if scalar:
            raise TypeError(
                f"{where}: got a mapping whose column {scalar[0]!r} holds a single value, not a column; "
                f"a transform works on batches: ds.map({where}, batched=True)"
            )
        return pa.table(cols)
    if isinstance(data, (list, tuple)) and all(isinstance(r, Mapping) for r in data):
        return pa.Table.from_pylist([dict(r) for r in data])
    raise TypeError(
        f"{where}: expected a pyarrow.Table, a datasets.Dataset, a pandas or polars DataFrame, an object with the "
        f"Arrow PyCapsule stream interface, a dict of columns or a list of row dicts; "
        f"got {module}.{type(data).__name__}"
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


def resolve_column(present: Sequence[str], name: str, default: str, fallback: Sequence[str]) -> str:
    """The column to read for an option set to ``name`` whose default is ``default``: ``name`` itself,
    unless it is the default, absent, and one of ``fallback`` is present (the first such).

    >>> resolve_column(["prompt", "solution"], "answer", "answer", ["solution"])
    'solution'
    >>> resolve_column(["answer", "solution"], "answer", "answer", ["solution"])
    'answer'
    """
    if name == default and name not in present:
        for alt in fallback:
            if alt in present:
                return alt
    return name


def _validate(table: pa.Table, name: str, cols: Sequence[Col], options: dict[str, Any],
              defaults: dict[str, Any] | None = None) -> pa.Table:
    present = table.column_names
    for col in cols:
        if col.fallback and isinstance(options.get(col.option), str):
            default = (defaults or {}).get(col.option, options[col.option])
            options[col.option] = resolve_column(present, options[col.option], default, col.fallback)
        for cname in _names(options.get(col.option)):
            if cname not in present:
                if not col.required:
                    continue
                also = f"; nor its fallback {', '.join(map(repr, col.fallback))}" if col.fallback and cname == (defaults or {}).get(col.option) else ""
                raise SchemaError(
                    f"{name}: missing column {cname!r} (option {col.option}=, expected {col.kind}{also}); "
                    f"columns present: {', '.join(present) or '(none)'}"
                )
            typ = table.schema.field(cname).type
            if pa.types.is_null(typ) and col.kind in _CAST_NULL_TO:
                # An all-null column (as JSON readers produce) is a column of nulls of the expected type.
                idx = present.index(cname)
                table = table.set_column(idx, cname, table[cname].cast(_CAST_NULL_TO[col.kind]))
                continue
            if col.kind == "text" and _numeric(typ):
                idx = present.index(cname)
                table = table.set_column(idx, cname, table[cname].cast(pa.string()))
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
        alt = f"; absent at its default: {', '.join(f'``{x}``' for x in c.fallback)}" if c.fallback else ""
        lines.append(f"    {opt}: {c.kind}{alt}" + (f"; nulls: {c.nulls}" if c.nulls else ""))
    if writes:
        lines.append("Columns written:")
        for n, d in writes:
            lines.append(f"    ``{n}``: {d}")
    return "\n".join(lines)


def transform(
    *, reads: Sequence[Col] = (), writes: Sequence[tuple[str, str]] = ()
) -> Callable[[Callable[Concatenate[pa.Table, P], pa.Table]], Callable[Concatenate[TableLike, P], pa.Table]]:
    """Declare a transform's column contract (see the module docstring)."""

    def deco(fn: Callable[Concatenate[pa.Table, P], pa.Table]) -> Callable[Concatenate[TableLike, P], pa.Table]:
        sig = inspect.signature(fn)
        name = fn.__name__
        for c in reads:
            if c.option not in sig.parameters:
                raise TypeError(f"{name}: declared column option {c.option!r} is not a parameter")
        defaults = {p.name: p.default for p in sig.parameters.values() if p.default is not inspect.Parameter.empty}

        @functools.wraps(fn)
        def wrapper(table: TableLike, /, *args: P.args, **kwargs: P.kwargs) -> pa.Table:
            try:
                bound = sig.bind(table, *args, **kwargs)
            except TypeError as e:
                raise TypeError(f"{name}(): {e}") from None
            bound.apply_defaults()
            t = as_table(table, name)
            t = _validate(t, name, reads, bound.arguments, defaults)
            first = next(iter(sig.parameters))
            bound.arguments[first] = t
            return fn(*bound.args, **bound.kwargs)

        wrapper.__doc__ = (fn.__doc__ or "").rstrip() + "\n" + _contract_doc(reads, writes) + "\n"
        wrapper.reads = tuple(reads)  # type: ignore[attr-defined]
        wrapper.writes = tuple(writes)  # type: ignore[attr-defined]
        return wrapper

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

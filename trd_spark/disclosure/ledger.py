"""The cells of the shareable tables and the linear relations a reader knows between them.

A :class:`Ledger` holds every count of persons that a set of shareable tables shows, each
under a *key* naming its population (the same population shown in two tables is one
cell), and the equations that hold between them whatever the data: a margin is the sum
of its parts, an attrition step is the previous step minus those excluded, a subset is
its superset minus a non-negative remainder.  Counts a reader can derive but no table
shows (the males of a group whose total and females are shown) are *hidden* cells.

The same ledger is built from the true counts (the report stage, before writing) or from
the published tables read back (``trd-spark audit``), where a suppressed cell has no
value.  :mod:`~trd_spark.disclosure.suppress` and :mod:`~trd_spark.disclosure.attack` work
on it; docs/disclosure.md describes the relations the report declares.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from trd_spark.errors import InputError


@dataclass(frozen=True)
class Place:
    """Where a cell is shown: a shareable table, a row label and a column."""

    table: str
    row: str
    column: str

    def __str__(self) -> str:
        return f"{self.table}: {self.row}: {self.column}"


@dataclass
class Ledger:
    """Cells (key -> value, None when unknown) and the relations between them.

    ``relations`` are equations ``sum(coefficient * cell) == 0``.  ``places`` says where
    each shown cell appears (a cell shown nowhere is hidden); ``priority`` orders the
    cells complementary suppression picks first (lower first; a cell shown in several
    tables has the highest priority of its places).
    """

    values: dict[str, int | None] = field(default_factory=dict)
    places: dict[str, list[Place]] = field(default_factory=dict)
    relations: list[dict[str, int]] = field(default_factory=list)
    priority: dict[str, int] = field(default_factory=dict)
    # True: values are the true counts and hidden ones are derived from them; False: values
    # are published counts read back (possibly rounded), hidden ones stay unknown
    exact: bool = True

    def cell(
        self, key: str, value: int | None, place: Place | None = None, priority: int = 0
    ) -> str:
        """Declare a cell (again, for a second place); returns ``key``.

        Parameters
        ----------
        key : the population's name; the same key in two tables is the same count.
        value : its count (None when unknown, e.g. suppressed in a table read back).
        place : where it is shown; None for a hidden cell.
        priority : complementary suppression takes cells of lower priority first.

        Returns
        -------
        ``key``; InputError when the key was declared with another known value.
        """
        known = self.values.get(key)
        if key in self.values and value is not None and known is not None and known != value:
            where = ", ".join(str(p) for p in self.places.get(key, [])) or "a hidden cell"
            raise InputError(
                f"the count {key} is {known} in {where} but {value} in {place or 'a hidden cell'}"
                "; the shared tables disagree about one population"
            )
        if key not in self.values or known is None:
            self.values[key] = value
        if place is not None:
            places = self.places.setdefault(key, [])
            if place not in places:
                places.append(place)
            self.priority[key] = max(priority, self.priority.get(key, priority))
        return key

    def hidden(self, key: str, value: int | None = None) -> str:
        """Declare a count no table shows (``value`` when known); returns ``key``."""
        return self.cell(key, value)

    def relate(self, terms: Mapping[str, int]) -> None:
        """Add the relation ``sum(coefficient * cell) == 0`` (cells must be declared)."""
        absent = [key for key in terms if key not in self.values]
        if absent:
            raise KeyError(f"relation names undeclared cell(s) {', '.join(absent)}")
        merged: dict[str, int] = {}
        for key, coefficient in terms.items():
            merged[key] = merged.get(key, 0) + coefficient
        merged = {k: c for k, c in merged.items() if c}
        if merged:
            self.relations.append(merged)

    def total(self, total: str, parts: Iterable[str]) -> None:
        """``total == sum(parts)``."""
        terms: dict[str, int] = {total: 1}
        for part in parts:
            terms[part] = terms.get(part, 0) - 1
        self.relate(terms)

    def total_if_declared(self, total: str, parts: list[str]) -> bool:
        """``total == sum(parts)`` when every one of them is declared; returns whether added."""
        if total in self.values and all(p in self.values for p in parts):
            self.total(total, parts)
            return True
        return False

    def contains(self, whole: str, part: str, remainder: str) -> None:
        """``whole == part + remainder``, with ``remainder`` a hidden cell declared here (its
        value is computed when both others are known)."""
        if remainder not in self.values:
            whole_value, part_value = self.values.get(whole), self.values.get(part)
            if self.exact and whole_value is not None and part_value is not None:
                self.hidden(remainder, whole_value - part_value)
            else:
                self.hidden(remainder)
        self.relate({whole: 1, part: -1, remainder: -1})

    def rest(self, total: str, parts: list[str], key: str) -> None:
        """Declare the hidden cell ``key`` as ``total - sum(parts)`` (``total == parts + key``)."""
        if key not in self.values:
            values = [self.values.get(p) for p in [total, *parts]]
            known = self.exact and all(v is not None for v in values)
            self.hidden(key, values[0] - sum(values[1:]) if known else None)  # type: ignore[operator, arg-type]
        self.total(total, [*parts, key])

    def sum_of(self, key: str, parts: list[str]) -> None:
        """Declare the hidden cell ``key`` as the sum of ``parts`` (``key == sum(parts)``)."""
        if key not in self.values:
            values = [self.values.get(p) for p in parts]
            known = self.exact and all(v is not None for v in values)
            self.hidden(key, sum(values) if known else None)  # type: ignore[arg-type]
        self.total(key, parts)

    def is_shown(self, key: str) -> bool:
        """True when the cell appears in some table."""
        return bool(self.places.get(key))

    @property
    def shown(self) -> list[str]:
        """Keys of the cells some table shows."""
        return [key for key in self.values if self.is_shown(key)]

    def check(self) -> list[str]:
        """Relations the known values break, and cells without a value or below 0 (empty
        when the ledger holds true counts that follow every relation).

        A broken relation means the declared structure is wrong for these tables; an
        audit built on it would prove nothing.
        """
        broken = [f"{key} has no value" for key, value in self.values.items() if value is None]
        broken += [f"{key} = {value} < 0" for key, value in self.values.items() if (value or 0) < 0]
        for relation in self.relations:
            values = [self.values.get(key) for key in relation]
            if any(v is None for v in values):
                continue
            if sum(c * int(v or 0) for c, v in zip(relation.values(), values, strict=True)):
                broken.append(" + ".join(f"{c} x {k}" for k, c in relation.items()) + " != 0")
        return broken

    def components(self) -> Iterator[tuple[list[str], list[dict[str, int]]]]:
        """The connected groups of cells (through relations) with their relations; a cell in
        no relation is a group of its own."""
        parent = {key: key for key in self.values}

        def find(key: str) -> str:
            while parent[key] != key:
                parent[key] = parent[parent[key]]
                key = parent[key]
            return key

        for relation in self.relations:
            first, *rest = relation
            for key in rest:
                parent[find(key)] = find(first)
        groups: dict[str, list[str]] = {}
        for key in self.values:
            groups.setdefault(find(key), []).append(key)
        by_root: dict[str, list[dict[str, int]]] = {}
        for relation in self.relations:
            by_root.setdefault(find(next(iter(relation))), []).append(relation)
        for root, keys in groups.items():
            yield keys, by_root.get(root, [])

"""Disclosure control for every shareable output (docs/disclosure.md).

:mod:`~trd_spark.disclosure.policy` says how a count is shown, a
:class:`~trd_spark.disclosure.ledger.Ledger` holds the counts of a set of tables and the
relations between them, :func:`~trd_spark.disclosure.suppress.protect` chooses primary and
complementary suppressions, :func:`~trd_spark.disclosure.attack.audit` attacks the result
with linear programming, and :mod:`~trd_spark.disclosure.private` keeps exact counts in
files marked not shareable.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trd_spark.disclosure.attack import Finding, Interval, StructureError, View, audit
    from trd_spark.disclosure.ledger import Ledger, Place
    from trd_spark.disclosure.policy import SUPPRESSED, WITHHELD, Policy
    from trd_spark.disclosure.suppress import DisclosureError, Protection, protect

# imported when first used, so the command line starts without numpy and scipy
_HOMES = {
    "Finding": "attack",
    "Interval": "attack",
    "StructureError": "attack",
    "View": "attack",
    "audit": "attack",
    "Ledger": "ledger",
    "Place": "ledger",
    "SUPPRESSED": "policy",
    "WITHHELD": "policy",
    "Policy": "policy",
    "DisclosureError": "suppress",
    "Protection": "suppress",
    "protect": "suppress",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)


__all__ = [
    "SUPPRESSED",
    "WITHHELD",
    "DisclosureError",
    "Finding",
    "Interval",
    "Ledger",
    "Place",
    "Policy",
    "Protection",
    "StructureError",
    "View",
    "audit",
    "protect",
]

"""Primary and complementary suppression of the cells of a :class:`Ledger`.

Primary suppression withholds every shown count from 1 to the threshold.  Complementary
suppression then runs the attack (:mod:`~trd_spark.disclosure.attack`) and, for each
count it recovers (a suppressed cell, or a small hidden one), withholds one more
published cell related to it, until the attack recovers nothing.  Suppressing a cell only
widens every interval (one equation fewer for the reader), so a cell that passed stays
passed and only the failing cells and the new ones are solved again; the loop ends
because every round suppresses at least one more cell.

Which cell: among the published, non-zero cells in a relation with the failing one
(looking further along relations when there are none), the one of lowest priority (the
report gives its working tables lower priority than Table 1 and Table 2), then one that
would not itself be pinned, then the smallest (the least information lost).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trd_spark.disclosure.attack import View, models, recovered
from trd_spark.disclosure.ledger import Ledger
from trd_spark.disclosure.policy import Policy
from trd_spark.errors import TrdSparkError


class DisclosureError(TrdSparkError):
    """Shareable outputs would reveal a count of 1 to the threshold; nothing was written."""


@dataclass
class Protection:
    """Which shown cells are published, which suppressed, and why."""

    policy: Policy
    published: set[str] = field(default_factory=set)
    primary: set[str] = field(default_factory=set)
    complementary: set[str] = field(default_factory=set)
    rounds: int = 0
    protects: dict[str, str] = field(default_factory=dict)  # complementary cell -> the cell

    @property
    def suppressed(self) -> set[str]:
        """Every suppressed cell, primary or complementary."""
        return self.primary | self.complementary

    def text(self, ledger: Ledger, key: str) -> str:
        """How the cell ``key`` is shown."""
        return self.policy.text(ledger.values[key], key in self.published)

    def view(self, ledger: Ledger) -> View:
        """What a reader sees of ``ledger`` under this protection."""
        return View.of(ledger, self.published, self.policy)


def protect(ledger: Ledger, policy: Policy) -> Protection:
    """Decide which shown cells of ``ledger`` to publish.

    Parameters
    ----------
    ledger : cells with their true values and the relations between them.
    policy : the threshold and rounding; with ``enabled`` False every cell is published.

    Returns
    -------
    The protection; DisclosureError when some count cannot be protected (a relation with
    nothing left to suppress, which the report's structures never produce).
    """
    shown = ledger.shown
    if not policy.enabled:
        return Protection(policy, published=set(shown))
    primary = {k for k in shown if policy.is_small(ledger.values[k])}
    protection = Protection(policy, published=set(shown) - primary, primary=primary)
    pending = primary | {
        k for k in ledger.values if not ledger.is_shown(k) and policy.is_small(ledger.values[k])
    }
    while pending:
        protection.rounds += 1
        by_key = models(ledger, protection.view(ledger))
        failing = [
            key
            for key in sorted(pending)
            if recovered(by_key[key], key, _value(ledger, key), ledger.is_shown(key), policy)
        ]
        chosen = set()
        for key in failing:
            complement = _complement(ledger, key, protection)
            protection.protects.setdefault(complement, key)
            chosen.add(complement)
        protection.complementary |= chosen
        protection.published -= chosen
        pending = set(failing) | chosen
    return protection


def _value(ledger: Ledger, key: str) -> int:
    value = ledger.values[key]
    if value is None:
        raise ValueError(f"cell {key} has no value; protection needs the true counts")
    return value


def _complement(ledger: Ledger, key: str, protection: Protection) -> str:
    """The published cell to suppress so that ``key`` is no longer recovered."""
    relations_of: dict[str, list[dict[str, int]]] = {}
    for relation in ledger.relations:
        for cell in relation:
            relations_of.setdefault(cell, []).append(relation)
    frontier, seen = {key}, {key}
    while frontier:
        near = {c for k in frontier for r in relations_of.get(k, []) for c in r} - seen
        candidates = [c for c in near if c in protection.published and ledger.values.get(c)]
        if candidates:
            return min(candidates, key=lambda c: _cost(ledger, c, protection, relations_of))
        seen |= near
        frontier = {c for c in near if c not in protection.published}
    where = ", ".join(str(p) for p in ledger.places.get(key, [])) or key
    raise DisclosureError(
        f"{where}: no published count is left to suppress to protect it; the tables' "
        "structure leaves it exposed"
    )


def _cost(
    ledger: Ledger, cell: str, protection: Protection, relations_of: dict[str, list[dict[str, int]]]
) -> tuple[int, bool, int]:
    # a cell that is the only unknown of one of its relations would be pinned once suppressed
    pinned = any(
        all(other in protection.published for other in relation if other != cell)
        for relation in relations_of.get(cell, [])
    )
    return ledger.priority.get(cell, 0), pinned, int(ledger.values[cell] or 0)

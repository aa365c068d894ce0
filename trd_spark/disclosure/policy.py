"""The disclosure policy: which counts of persons may be shown, and how.

All of Us forbids publishing a count of participants from 1 to 20, or anything from which
such a count can be derived (docs/disclosure.md).  The policy here says how one cell is
shown once :mod:`trd_spark.disclosure.suppress` has decided whether it is published:

* a suppressed cell shows :data:`SUPPRESSED`, the same mark whether it was small itself
  (primary suppression) or withheld so that a small one cannot be derived from it
  (complementary suppression), so the mark says nothing about the value but that it
  is not 0;
* 0 is always shown (a count of 0 is allowed);
* any other count is shown exactly, or, with ``rounding_base`` > 1, rounded to the
  nearest multiple of the base (never to a value at or below the threshold);
* a percentage, mean or rate computed from a suppressed count is withheld
  (:data:`WITHHELD`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

SUPPRESSED = "*"  # a count not shown (1..threshold, or withheld to protect one)
WITHHELD = "-"  # a percentage, mean or rate not shown because its count is suppressed
_DIGITS = re.compile(r"^\d{1,3}(,\d{3})*$|^\d+$")


@dataclass(frozen=True)
class Policy:
    """How counts of persons are shown.

    Parameters
    ----------
    threshold : counts 1..threshold are never shown (20 under All of Us policy).
    enabled : False shows every count exactly: for private use only, never for sharing.
    rounding_base : 0 or 1 shows published counts exactly; a base > 1 rounds them to a
        multiple of the base (off by default).
    """

    threshold: int = 20
    enabled: bool = True
    rounding_base: int = 0

    def __post_init__(self) -> None:
        if self.threshold < 0:
            raise ValueError(f"threshold must be 0 or more, got {self.threshold}")
        if self.rounding_base < 0:
            raise ValueError(f"rounding_base must be 0 or more, got {self.rounding_base}")

    @property
    def rounds(self) -> bool:
        """True when published counts are rounded to ``rounding_base``."""
        return self.enabled and self.rounding_base > 1

    def is_small(self, value: float | int | None) -> bool:
        """True for a count the policy never shows (1..threshold); missing values are not."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        return 1 <= value <= self.threshold

    def show(self, value: int) -> str:
        """A published count as text: exact with thousands separators, or rounded.

        Parameters
        ----------
        value : a count that :mod:`~trd_spark.disclosure.suppress` decided to publish
            (0, or above the threshold when the policy is enabled).

        Returns
        -------
        The text (``"1,234"``; ``"1,235"`` -> ``"1,235"`` or, with base 10, ``"1,240"``).
        """
        if self.rounds and value > 0:
            value = self.rounded(value)
        return f"{int(value):,}"

    def rounded(self, value: int) -> int:
        """``value`` rounded to the nearest multiple of the base (halves up), and never to a
        value at or below the threshold (those go up to the first multiple above it)."""
        base = self.rounding_base
        shown = base * math.floor(value / base + 0.5)
        return max(shown, self.smallest_rounded)

    @property
    def smallest_rounded(self) -> int:
        """The smallest count shown when rounding: the first multiple of the base above the
        threshold."""
        base = self.rounding_base
        return base * (self.threshold // base + 1)

    def bounds(self, shown: int) -> tuple[int, int]:
        """The counts a published value can stand for: itself, or its rounding interval.

        Parameters
        ----------
        shown : a published count (as displayed).

        Returns
        -------
        (lowest, highest) true count consistent with it.
        """
        if not self.rounds or shown == 0:
            return shown, shown
        half = self.rounding_base / 2
        high = math.ceil(shown + half) - 1
        if shown == self.smallest_rounded:
            return self.threshold + 1, high
        return math.ceil(shown - half), high

    def text(self, value: int | None, published: bool) -> str:
        """A count cell as shown: empty when missing, :data:`SUPPRESSED` when not published."""
        if value is None:
            return ""
        if not published:
            return SUPPRESSED
        return self.show(value)

    def parse(self, text: str) -> int | None:
        """Read a count cell of a shared table back: the number shown, None when suppressed.

        Raises ValueError for text that is neither a count nor the suppression mark.
        """
        stripped = text.strip()
        if stripped == SUPPRESSED:
            return None
        if not _DIGITS.match(stripped):
            raise ValueError(f"{text!r} is neither a count nor {SUPPRESSED!r}")
        return int(stripped.replace(",", ""))

    def describe(self) -> str:
        """One sentence for the report and its tables: what the policy hides and how."""
        if not self.enabled:
            return (
                "Disclosure control is OFF: this report shows exact participant counts and "
                "must not be shared outside the secure environment."
            )
        rounding = (
            f" Other counts are rounded to a multiple of {self.rounding_base}."
            if self.rounds
            else ""
        )
        return (
            f"Following the All of Us Data and Statistics Dissemination Policy, no count of "
            f"1 to {self.threshold} participants is shown or can be derived from the counts "
            f"shown: {SUPPRESSED} marks a count that is suppressed, either because it is from "
            f"1 to {self.threshold} or because a small count could be derived from it with "
            f"the other published counts (checked by solving, for every suppressed count, the "
            f"smallest and largest value the published tables allow). A count of 0 is shown. "
            f"Percentages and means of a suppressed count are withheld ({WITHHELD}).{rounding}"
        )

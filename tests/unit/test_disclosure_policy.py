"""The disclosure policy: how one count is shown, rounded, read back; private log records."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trd_spark.disclosure import SUPPRESSED, Policy
from trd_spark.disclosure.private import (
    PRIVATE,
    ShareableFilter,
    attach_private_log,
    write_private,
)


@pytest.mark.parametrize(
    ("value", "small"), [(0, False), (1, True), (7, True), (20, True), (21, False), (None, False)]
)
def test_small_counts_are_one_to_the_threshold(value, small):
    assert Policy().is_small(value) is small


def test_threshold_is_configurable():
    assert Policy(10).is_small(10) and not Policy(10).is_small(11)
    assert Policy(50).is_small(11)


def test_text_of_a_cell():
    policy = Policy()
    assert policy.text(1234, published=True) == "1,234"
    assert policy.text(0, published=True) == "0"
    assert policy.text(7, published=False) == SUPPRESSED
    assert policy.text(500, published=False) == SUPPRESSED  # complementary: the same mark
    assert policy.text(None, published=True) == ""


@given(st.integers(min_value=0, max_value=10**7))
def test_shown_counts_read_back_exactly(value):
    policy = Policy()
    assert policy.parse(policy.show(value)) == value
    assert policy.bounds(value) == (value, value)


def test_parse_rejects_other_text():
    with pytest.raises(ValueError, match="neither a count"):
        Policy().parse("<20")
    assert Policy().parse(SUPPRESSED) is None


@pytest.mark.parametrize("base", [2, 5, 10, 7])
@pytest.mark.parametrize("threshold", [20, 10, 0])
def test_rounding_intervals_hold_exactly_the_counts_shown_that_way(base, threshold):
    # an independent computation: round every count and collect which counts give each text
    policy = Policy(threshold, rounding_base=base)
    shown: dict[int, list[int]] = {}
    for value in range(threshold + 1, 2000):
        shown.setdefault(policy.rounded(value), []).append(value)
    for text, values in shown.items():
        if max(values) >= 1990:  # the last interval is cut by the range
            continue
        assert text > threshold and text % base == 0
        assert policy.bounds(text) == (min(values), max(values)), (text, values)
        assert values == list(range(min(values), max(values) + 1))


def test_rounding_is_off_by_default_and_when_disabled():
    assert not Policy().rounds
    assert not Policy(enabled=False, rounding_base=10).rounds
    assert Policy(rounding_base=10).show(1234) == "1,230"
    assert Policy(rounding_base=10).show(21) == "30"  # never to 20 or below


def test_describe_names_the_threshold_and_the_mark():
    assert "1 to 20" in Policy().describe() and SUPPRESSED in Policy().describe()
    assert "OFF" in Policy(enabled=False).describe()
    assert "multiple of 5" in Policy(rounding_base=5).describe()


def test_private_records_stay_off_the_console_and_go_to_the_private_log(tmp_path, capsys):
    logger = logging.getLogger("trd_spark.test_private")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    console = logging.StreamHandler()
    console.addFilter(ShareableFilter())
    logger.addHandler(console)
    handler = attach_private_log(str(tmp_path), logger)
    try:
        logger.info("shareable line")
        logger.info("exact: %d persons", 7, extra=PRIVATE)
    finally:
        logger.removeHandler(console)
        logger.removeHandler(handler)  # type: ignore[arg-type]
        handler.close()  # type: ignore[union-attr]
    printed = capsys.readouterr().err
    assert "shareable line" in printed and "7 persons" not in printed
    log_text = (tmp_path / "private" / "trd-spark.log").read_text()
    assert "exact: 7 persons" in log_text and "shareable line" not in log_text
    assert "NOT SHAREABLE" in (tmp_path / "private" / "README.txt").read_text()


def test_write_private(tmp_path):
    path = write_private(str(tmp_path), "sizes.txt", "n = 3\n")
    assert path == str(tmp_path / "private" / "sizes.txt")
    assert (tmp_path / "private" / "sizes.txt").read_text() == "n = 3\n"

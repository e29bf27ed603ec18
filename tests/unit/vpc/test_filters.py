"""Describe filters and pages (lambent/vpc/filters.py)."""

from __future__ import annotations

import pytest

from lambent.vpc import errors as ve
from lambent.vpc import filters as vf

KNOWN = frozenset({"vpc-id", "cidr"})
ATTRS = {"vpc-id": ["vpc-1"], "cidr": ["10.0.0.0/16"]}
TAGS = (("Name", "main"), ("env", "prod"))


def _match(*raw: dict[str, object]) -> bool:
    return vf.matches(vf.parse(list(raw), KNOWN), ATTRS, TAGS)


def test_filters_and_across_or_within_with_wildcards() -> None:
    assert _match({"Name": "vpc-id", "Values": ["vpc-2", "vpc-1"]})
    assert _match({"Name": "cidr", "Values": ["10.0.*"]}, {"Name": "tag:env", "Values": ["pr?d"]})
    assert not _match({"Name": "cidr", "Values": ["10.0.*"]}, {"Name": "tag:env", "Values": ["dev"]})
    assert _match({"Name": "tag-key", "Values": ["Name"]}) and _match({"Name": "tag-value", "Values": ["main"]})
    assert not _match({"Name": "tag:missing", "Values": ["*"]})
    assert not _match({"Name": "cidr", "Values": ["10.0.0.0"]})  # whole-value match, not a prefix
    assert _match()


def test_regex_characters_in_values_are_literal() -> None:
    assert not _match({"Name": "cidr", "Values": ["10.0.0.0.16"]}) and not _match({"Name": "cidr", "Values": ["(.*)"]})


def test_unknown_names_and_oversized_filters_are_refused() -> None:
    with pytest.raises(ve.InvalidValue):
        vf.parse([{"Name": "owner", "Values": ["x"]}], KNOWN)
    with pytest.raises(ve.InvalidValue):
        vf.parse([{"Name": "vpc-id", "Values": ["x" * 256]}], KNOWN)
    with pytest.raises(ve.InvalidValue):
        vf.parse([{"Name": "vpc-id", "Values": ["x"]}] * 201, KNOWN)
    with pytest.raises(ve.MissingParameter):
        vf.parse([{"Values": ["x"]}], KNOWN)


def test_pages_resume_after_the_last_id_even_if_it_was_deleted() -> None:
    ids = [f"vpc-{i}" for i in range(7)]
    first, token = vf.page(ids, None, 5, 1000)
    assert first == ids[:5] and token is not None
    rest, end = vf.page([i for i in ids if i != "vpc-4"], token, 5, 1000)
    assert rest == ids[5:] and end is None
    with pytest.raises(ve.InvalidPaginationToken):
        vf.page(ids, "%%%", 5, 1000)

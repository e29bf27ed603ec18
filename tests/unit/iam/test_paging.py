"""IAM's Marker/IsTruncated paging."""

from __future__ import annotations

import pytest

from lambent.errors import ValidationError
from lambent.iam.paging import page


def test_pages_walk_every_item_once() -> None:
    items = [f"u{i:03}" for i in range(250)]
    seen: list[str] = []
    marker = None
    while True:
        p = page(items, str, marker, None)
        seen += p.items
        if not p.is_truncated:
            assert p.marker is None
            break
        assert len(p.items) == 100
        marker = p.marker
    assert seen == items


def test_a_marker_survives_removal_of_the_item_it_points_at() -> None:
    first = page(["a", "b", "c", "d"], str, None, 2)
    assert first.items == ["a", "b"] and first.is_truncated
    assert page(["a", "b", "d"], str, first.marker, 2).items == ["d"]


def test_a_forged_marker_is_refused() -> None:
    with pytest.raises(ValidationError):
        page(["a"], str, "%%%not-base64", 1)

"""Log quota bookkeeping: running counts, and which segments go first."""

from __future__ import annotations

from pathlib import Path

from lambent.observability.quota import LogQuota, LogUsage, Segment
from lambent.settings import StorageSettings

MB = 1024 * 1024


def seg(group: str, size: int, last_ms: int = 0, name: str = "") -> Segment:
    return Segment(Path(name or f"{group}-{size}-{last_ms}"), group, size, last_ms)


def test_defaults_are_100_mb_per_group_1_gb_total_capped_at_a_quarter_of_the_filesystem() -> None:
    big = LogQuota.from_settings(StorageSettings(), filesystem_bytes=100 * 1024 * MB)
    assert (big.group_max_bytes, big.total_max_bytes, big.segment_max_bytes) == (100 * MB, 1024 * MB, 8 * MB)
    small = LogQuota.from_settings(StorageSettings(), filesystem_bytes=80 * MB)
    assert (small.group_max_bytes, small.total_max_bytes, small.segment_max_bytes) == (20 * MB, 20 * MB, 5 * MB)
    no_fraction = LogQuota.from_settings(StorageSettings(logs_max_fs_fraction=0), filesystem_bytes=80 * MB)
    assert no_fraction.total_max_bytes == 1024 * MB


def test_charging_within_the_quota_deletes_nothing() -> None:
    usage = LogUsage(LogQuota(100, 1000, 25))
    assert usage.charge("g", 60) is False
    usage.closed(seg("g", 60))
    assert usage.charge("g", 40) is False
    assert usage.victims("g") == []
    assert usage.group_bytes("g") == 100 and usage.total == 100


def test_a_group_over_its_quota_loses_its_oldest_closed_segments_first() -> None:
    usage = LogUsage(LogQuota(100, 1000, 25))
    a, b, c = seg("g", 40, name="a"), seg("g", 40, name="b"), seg("g", 40, name="c")
    for s in (a, b, c):
        usage.charge("g", s.size)
        usage.closed(s)
    other = seg("h", 40, name="other")
    usage.charge("h", 40)
    usage.closed(other)
    assert usage.over("g")
    assert usage.victims("g") == [a]  # 120 -> 80: within the quota again
    assert usage.group_bytes("g") == 80 and usage.total == 120
    assert usage.closed_count("h") == 1  # another group's segments are not touched


def test_open_segments_are_counted_but_never_chosen() -> None:
    usage = LogUsage(LogQuota(100, 1000, 25))
    assert usage.charge("g", 150) is True  # all of it still being written
    assert usage.victims("g") == []
    assert usage.over("g")


def test_the_total_quota_takes_the_oldest_segment_of_any_group() -> None:
    usage = LogUsage(LogQuota(1000, 100, 25))
    old_h = seg("h", 30, name="old-h")
    g1, g2 = seg("g", 30, name="g1"), seg("g", 30, name="g2")
    for s in (old_h, g1, g2):
        usage.charge(s.group, s.size)
        usage.closed(s)
    assert usage.charge("g", 30) is True  # 120 > 100
    assert usage.victims("g") == [old_h]
    assert usage.total == 90 and usage.group_bytes("h") == 0


def test_existing_segments_are_charged_and_closed_in_the_order_given() -> None:
    usage = LogUsage(LogQuota(50, 1000, 25))
    first, second = seg("g", 30, 1, "first"), seg("g", 30, 2, "second")
    usage.existing(first)
    usage.existing(second)
    assert usage.victims("g") == [first]


def test_retention_expires_closed_segments_older_than_the_cutoff() -> None:
    usage = LogUsage(LogQuota(1000, 1000, 25))
    old, new = seg("g", 10, last_ms=1_000, name="old"), seg("g", 10, last_ms=5_000, name="new")
    for s in (old, new):
        usage.existing(s)
    assert usage.expired("g", before_ms=2_000) == [old]
    assert usage.group_bytes("g") == 10 and usage.total == 10
    assert usage.expired("nope", before_ms=2_000) == []


def test_dropping_a_group_uncharges_it_and_hands_back_its_closed_segments() -> None:
    usage = LogUsage(LogQuota(1000, 1000, 25))
    closed = seg("g", 10)
    usage.existing(closed)
    usage.charge("g", 5)  # an open segment
    usage.existing(seg("h", 7))
    assert usage.drop_group("g") == [closed]
    assert usage.total == 7 and usage.group_bytes("g") == 0
    assert usage.drop_group("g") == []


def test_too_many_small_segment_files_go_oldest_first_too() -> None:
    usage = LogUsage(LogQuota(1 << 30, 1 << 30, 1 << 20, group_max_files=3, total_max_files=5))
    segs = [seg("g", 1, name=f"g{i}") for i in range(4)]
    flags = []
    for s in segs:
        usage.charge("g", 1)
        flags.append(usage.closed(s))
    assert flags == [False, False, False, True]
    assert usage.victims("g") == [segs[0]] and usage.files == 3
    others = [seg("h", 1, name=f"h{i}") for i in range(3)]
    for s in others:
        usage.charge("h", 1)
        usage.closed(s)
    assert usage.victims("h") == [segs[1]]  # 6 files > 5: the oldest of any group
    assert usage.files == 5 and usage.total == 5


def test_an_account_alone_uses_the_whole_total_and_shares_it_once_another_logs() -> None:
    # Given 1000 bytes in all, 400 of one account while others log too
    usage = LogUsage(LogQuota(1000, 1000, 100, account_max_bytes=400))
    for i in range(7):  # account A alone: 700 bytes over three groups, within the total
        assert usage.charge(f"111111111111:/aws/lambda/f{i % 3}", 100) is False
        usage.closed(seg(f"111111111111:/aws/lambda/f{i % 3}", 100, name=f"a{i}"))
    assert usage.victims("111111111111:/aws/lambda/f0") == []
    # When account B writes, A is over its share
    assert usage.charge("222222222222:/aws/lambda/f0", 100) is False  # B itself is within its share
    usage.closed(seg("222222222222:/aws/lambda/f0", 100, name="b0"))
    assert usage.over("111111111111:/aws/lambda/f1")
    # Then A's next write makes A lose its own oldest segments, down to its share; B keeps its own
    assert usage.charge("111111111111:/aws/lambda/f1", 0) is True
    gone = usage.victims("111111111111:/aws/lambda/f1")
    assert [s.path.name for s in gone] == ["a0", "a1", "a2"]
    assert usage.account_bytes("111111111111") == 400 and usage.account_bytes("222222222222") == 100
    assert usage.total == 500
    # and a dropped group is uncharged from its account too
    usage.drop_group("222222222222:/aws/lambda/f0")
    assert usage.account_bytes("222222222222") == 0 and usage.total == 400


def test_the_account_share_comes_from_the_settings() -> None:
    q = LogQuota.from_settings(StorageSettings(), filesystem_bytes=100 * 1024 * MB)
    assert q.account_bytes == 512 * MB
    assert LogQuota(100, 1000, 25).account_bytes == 1000

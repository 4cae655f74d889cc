"""The Cassandra session's row factory (`infra.cassandra.schema.named_rows`): the
driver's named-tuple rows, with one row class per column list instead of one per result."""

from __future__ import annotations

from cassandra.query import named_tuple_factory
from photoshare.infra.cassandra.schema import named_rows


def test_rows_are_the_drivers_named_tuples() -> None:
    columns = ["photo_id", "count", "writetime(removed)"]
    rows = [("p1", 3, 17), ("p2", 0, None)]
    got, want = named_rows(columns, rows), named_tuple_factory(columns, rows)
    assert got == want
    assert [row._fields for row in got] == [row._fields for row in want]
    assert got[0].writetime_removed == 17 and got[1].photo_id == "p2"


def test_one_row_class_per_column_list() -> None:
    first = named_rows(["user_id", "username"], [("u1", "ann")])
    second = named_rows(["user_id", "username"], [("u2", "bob"), ("u3", "cy")])
    other = named_rows(["user_id", "bio"], [("u1", "hi")])
    assert type(first[0]) is type(second[0]) is type(second[1])
    assert type(other[0]) is not type(first[0]) and other[0].bio == "hi"
    assert named_rows(["never_seen"], []) == []

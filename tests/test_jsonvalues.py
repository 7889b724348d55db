"""The canonical JSON rule (:mod:`pastegen.jsonvalues`), shared by the resume check and the shard check."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import pastegen.shards
import pastegen.store.writer
from pastegen.errors import ResumeMismatchError, StoreWarning
from pastegen.jsonvalues import canonical_json, json_default, short_repr
from pastegen.store import StoreLayout, TupleWriter


def test_one_rule_for_both_checks():
    assert pastegen.shards.canonical_json is canonical_json
    assert pastegen.store.writer.canonical_json is canonical_json
    assert pastegen.shards.short_repr is short_repr is pastegen.store.writer.short_repr


@pytest.mark.parametrize(
    "a, b",
    [
        ((1, 2), [1, 2]),
        (np.array([1, 2]), [1, 2]),
        (np.int64(3), 3),
        (np.float32(0.5), 0.5),
        (np.bool_(True), True),
        ({"b": 1, "a": [2]}, {"a": (2,), "b": 1}),
        (float("nan"), math.nan),
        ({"x": [np.float64("nan")]}, {"x": [float("nan")]}),
        ({"y", "x"}, ["x", "y"]),
        (frozenset({3, 1, 2}), [1, 2, 3]),
        (Path("a/b"), "a/b"),
    ],
)
def test_equal_values_have_equal_texts(a, b):
    assert canonical_json(a) == canonical_json(b)


@pytest.mark.parametrize("a, b", [(1, 1.5), ([1, 2], [2, 1]), ({"a": 1}, {"a": "1"}), (1, True), (None, 0), ("x", ["x"])])
def test_different_values_have_different_texts(a, b):
    assert canonical_json(a) != canonical_json(b)


def test_values_the_store_cannot_hold_are_refused():
    with pytest.raises(TypeError):
        canonical_json({"f": object()})
    with pytest.raises(TypeError):
        json_default(object())
    assert json_default((1, 2)) == [1, 2] and json_default(np.float32(2.0)) == 2.0


def test_short_repr():
    assert short_repr("abc") == "'abc'" and short_repr((1, 2)) == "[1, 2]"
    long = short_repr(list(range(100)))
    assert len(long) == 60 and long.endswith("...")


def test_resume_compares_attributes_by_the_canonical_rule(tmp_path):
    layout = StoreLayout(count=2, height=8, width=8)
    path = tmp_path / "t.h5"
    attrs = {"sizes": (1, 2), "n": np.int64(3), "ratio": np.float32(0.5), "extra": {"b": 1, "a": [float("nan")]}}
    with pytest.warns(StoreWarning, match="without commit"), TupleWriter(path, layout, attrs=attrs):
        pass  # an interrupted run: the .partial stays
    same = {"sizes": [1, 2], "n": 3, "ratio": 0.5, "extra": {"a": [math.nan], "b": 1}}
    with TupleWriter(path, layout, attrs=same, resume=True) as w:
        assert w.pending() == [0, 1]
        w.close()
    with pytest.raises(ResumeMismatchError, match="attribute 'sizes': partial file has \\[1, 2\\], this run \\[2, 1\\]"):
        TupleWriter(path, layout, attrs={**same, "sizes": (2, 1)}, resume=True)


def test_shard_check_compares_attributes_by_the_canonical_rule():
    first = {"spec": '{"a": [1, 2]}', "seed": 3, "weights": [0.5, float("nan")]}
    assert pastegen.shards._first_difference({"spec": {"a": (1, 2)}, "seed": np.int64(3), "weights": (0.5, math.nan)}, first) is None
    diff = pastegen.shards._first_difference({**first, "seed": 4}, first)
    assert diff == "seed is 4 there, 3 in the first shard"

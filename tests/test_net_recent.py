"""pastenet.recent: the cache of results by mask, with values made by another thread waited for."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from pastenet.recent import Recent, mask_key


def test_keeps_the_last_values_and_drops_the_least_recently_used():
    cache = Recent(2)
    made = []

    def make(v):
        return lambda: made.append(v) or v

    assert cache.get("a", make(1)) == 1 and cache.get("b", make(2)) == 2
    assert cache.get("a", make(9)) == 1  # kept: not made again, and now the most recent
    assert cache.get("c", make(3)) == 3  # drops b
    assert cache.get("b", make(4)) == 4 and made == [1, 2, 3, 4] and len(cache) == 2


def test_a_value_in_the_making_is_waited_for_not_made_twice():
    cache = Recent(2)
    started, release = threading.Event(), threading.Event()
    calls = []

    def slow():
        calls.append("slow")
        started.set()
        release.wait(5)
        return "factor"

    owner = threading.Thread(target=cache.get, args=("k", slow))
    owner.start()
    assert started.wait(5)
    got = []
    waiter = threading.Thread(target=lambda: got.append(cache.get("k", lambda: calls.append("again") or "other")))
    waiter.start()
    time.sleep(0.05)
    assert not got  # still waiting for the owner
    release.set()
    owner.join(5)
    waiter.join(5)
    assert got == ["factor"] and calls == ["slow"]


def test_when_the_maker_fails_a_waiter_makes_it_and_the_maker_sees_its_error():
    cache = Recent(2)
    started, release = threading.Event(), threading.Event()
    errors = []

    def failing():
        started.set()
        release.wait(5)
        raise RuntimeError("no")

    def owner():
        try:
            cache.get("k", failing)
        except RuntimeError as e:
            errors.append(str(e))

    t = threading.Thread(target=owner)
    t.start()
    assert started.wait(5)
    got = []
    waiter = threading.Thread(target=lambda: got.append(cache.get("k", lambda: "made")))
    waiter.start()
    time.sleep(0.05)
    release.set()
    t.join(5)
    waiter.join(5)
    assert errors == ["no"] and got == ["made"] and cache.get("k", lambda: "not again") == "made"
    with pytest.raises(ZeroDivisionError):
        cache.get("z", lambda: 1 / 0)
    assert cache.get("z", lambda: 2) == 2  # a failure leaves nothing behind


def test_mask_key_is_the_masks_bits_and_shape():
    m = np.zeros((5, 7), bool)
    m[1:3, 2:5] = True
    assert mask_key(m) == mask_key(m.copy()) and mask_key(m) != mask_key(m.T.copy()) and mask_key(m, 3) != mask_key(m, 4)
    other = m.copy()
    other[4, 6] = True
    assert mask_key(other) != mask_key(m)

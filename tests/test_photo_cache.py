"""The byte-budgeted cache of decoded source photos (``PhotoCache``) and its use by ``make``."""

from __future__ import annotations

import copy
import pickle

import cv2
import h5py
import numpy as np
import pytest

from pastegen.pipeline import PhotoCache, TupleGenerator, preset
from pastegen.precompute import make


@pytest.fixture(scope="module")
def photo_paths(tmp_path_factory) -> list[str]:
    folder = tmp_path_factory.mktemp("cache-photos")
    rng = np.random.default_rng(3)
    paths = []
    for k in range(5):
        img = cv2.GaussianBlur((rng.random((60 + 4 * k, 70, 3)) * 255).astype(np.uint8), (0, 0), 2)
        path = folder / f"p{k}.png"
        cv2.imwrite(str(path), img)
        paths.append(str(path))
    return paths


def test_cache_keeps_photos_up_to_its_budget_and_never_evicts():
    cache = PhotoCache(budget_bytes=250)
    a, b, c = (np.full((10, 10), v, np.uint8) for v in (1, 2, 3))  # 100 bytes each
    kept = cache.put(0, a)
    assert not kept.flags.writeable and np.shares_memory(kept, a)  # read-only view, no copy
    cache.put(1, b)
    assert cache.put(2, c) is c and len(cache) == 2 and cache.nbytes == 200  # over budget: not kept
    assert cache.get(2) is None and cache.get(0) is kept and (cache.hits, cache.misses) == (1, 1)
    assert cache.put(0, a.copy()) is kept  # the first copy stays
    clone = pickle.loads(pickle.dumps(cache))
    assert clone.budget_bytes == 250 and len(clone) == 0  # photos are not shipped to processes
    assert PhotoCache(0).put(0, a) is a


def test_generator_with_a_photo_cache_gives_the_same_tuples_within_its_budget(photo_paths):
    spec = preset("photos", height=32, width=32, sigma=2.0)
    plain = TupleGenerator(photo_paths, spec, seed=2)
    sizes = [np.prod(plain.source_size(k)) * 3 for k in range(len(photo_paths))]
    budget = int(sum(sizes[:3]))  # room for about three of the five photos
    cached = TupleGenerator(photo_paths, spec, seed=2, cache_bytes=budget)
    for i in range(3 * len(photo_paths)):  # three epochs
        a, b = plain[i], cached[i]
        for name in ("I", "I_T", "I_S", "M"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    pc = cached.photo_cache
    assert 0 < pc.nbytes <= budget and pc.hits > 0
    assert copy.copy(cached).photo_cache is pc  # make's threads share one cache
    assert pickle.loads(pickle.dumps(cached)).photo_cache.nbytes == 0
    assert TupleGenerator(photo_paths, spec).photo_cache is None  # off by default


@pytest.mark.parametrize("jobs", [1, 2])
def test_make_gives_the_same_file_with_and_without_the_photo_cache(tmp_path, photo_paths, jobs):
    spec = preset("photos", height=40, width=40, sigma=3.0)
    a = make(tmp_path / "a.h5", photo_paths, spec, count=17, seed=6, jobs=jobs, cache_mb=0)
    b = make(tmp_path / "b.h5", photo_paths, spec, count=17, seed=6, jobs=jobs)  # 17 tuples > 5 photos: cached
    c = make(tmp_path / "c.h5", photo_paths, spec, count=17, seed=6, jobs=jobs, cache_mb=0.02)  # a budget of ~2 photos
    with h5py.File(a.path, "r") as fa, h5py.File(b.path, "r") as fb, h5py.File(c.path, "r") as fc:
        for name in ("I", "I_S", "M"):  # the stored datasets (I_T is derived from I and M)
            np.testing.assert_array_equal(fa[name][...], fb[name][...], err_msg=name)
            np.testing.assert_array_equal(fa[name][...], fc[name][...], err_msg=name)
    with pytest.raises(Exception, match="cache_mb"):
        make(tmp_path / "d.h5", photo_paths, spec, count=3, cache_mb=-1)

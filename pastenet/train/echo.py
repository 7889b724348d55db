"""Data echoing (beyond the paper): each fresh training tuple serves ``K`` steps.

Choi et al. 2019 ("Faster Neural Network Training with Data Echoing", arXiv:1907.05550) reuse
the output of a slow input pipeline so that the accelerator stops waiting for it. Here the
pipeline is the loader workers' Poisson prior, which on two CPU cores takes as much CPU as G's
step (``benchmarks/README.md``). With ``--echo K`` a step of batch ``B`` takes ``F = B/K`` fresh
tuples and reuses ``K - 1`` groups of ``F`` from earlier steps: step ``s`` trains on::

    fresh(s), flip(fresh(s - L)), fresh(s - 2L), flip(fresh(s - 3L)), ...   (K groups)

where ``fresh(t)`` are the ``F`` tuples the data order gives step ``t`` (positions
``[t·F·W, (t+1)·F·W)``, this rank's share; the cursor counts fresh positions, ``steps·F·W``),
``L`` is :data:`ECHO_LAG` steps, and ``flip`` mirrors every image of the tuple left to right
(the copy-paste problem is mirror-symmetric: a mirrored tuple is a tuple, and its Poisson prior
is the mirrored prior). A tuple's uses lie ``L`` steps apart, never in one batch (example-level
echoing, which the paper found better than repeating whole batches), except in the first
``(K-1)·L`` steps, where a group whose step would be negative is taken from step ``s`` itself.

The batches depend only on the step: a resumed run regenerates the ``(K-1)·L`` fresh groups
before its first step and continues exactly as an uninterrupted one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any

import torch

__all__ = ["ECHO_LAG", "EchoBatches", "flip_item", "first_fresh_step"]

#: Steps between two uses of a fresh tuple (``L`` above). Part of the data order of a run with
#: ``echo > 1``: never change it.
ECHO_LAG = 16


def flip_item(batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The batch with every image (``[B, C, H, W]``) mirrored left to right; other entries as they are."""
    return {k: v.flip(-1) if v.ndim == 4 else v for k, v in batch.items()}


def first_fresh_step(start: int, echo: int, lag: int = ECHO_LAG) -> int:
    """The first step whose fresh tuples a run that starts at ``start`` needs: ``max(0, start - (echo-1)·lag)``."""
    return max(0, int(start) - (int(echo) - 1) * int(lag))


class EchoBatches:
    """Batches of ``K`` groups from an iterator of fresh groups (see the module docstring).

    Parameters
    ----------
    fresh : iterator of dict
        The fresh groups of steps ``first_fresh_step(start, echo, lag)``, ``...+1``, ... in order
        (a :class:`pastenet.data.Batches` with batch ``F``); ``close()`` is passed on.
    echo : int
        ``K >= 1``.
    start : int
        The step of the first batch this iterator yields.
    lag : int
        ``L`` (default :data:`ECHO_LAG`).
    """

    def __init__(self, fresh: Iterator[dict[str, torch.Tensor]], *, echo: int, start: int, lag: int = ECHO_LAG) -> None:
        if echo < 1 or lag < 1 or start < 0:
            raise ValueError(f"need echo >= 1, lag >= 1 and start >= 0, got {echo}, {lag}, {start}")
        self._fresh = fresh
        self.echo, self.lag, self.step = int(echo), int(lag), int(start)
        self._recent: deque[dict[str, torch.Tensor]] = deque(maxlen=max(1, (self.echo - 1) * self.lag))
        for _ in range(first_fresh_step(start, echo, lag), start):
            self._recent.append(next(self._fresh))

    def __iter__(self) -> EchoBatches:
        return self

    def __next__(self) -> dict[str, torch.Tensor]:
        new = next(self._fresh)
        groups = [new]
        for e in range(1, self.echo):
            back = e * self.lag
            old = new if self.step < back else self._recent[len(self._recent) - back]
            groups.append(flip_item(old) if e % 2 else old)
        if self.echo > 1:
            self._recent.append(new)
        self.step += 1
        if len(groups) == 1:
            return new
        pinned = new["X"].is_pinned() if "X" in new else False
        out = {k: torch.cat([g[k] for g in groups]) for k in new}
        return {k: v.pin_memory() for k, v in out.items()} if pinned else out

    def close(self) -> None:
        """Close the fresh iterator (its loader workers)."""
        close = getattr(self._fresh, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> EchoBatches:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

"""``pastenet edit``: an interactive copy-paste editor in the browser (beyond the paper).

A small ASGI app (Starlette, served by uvicorn; the ``edit`` extra) and a static page of plain
HTML/JS/CSS (no build step, nothing fetched from the internet)::

    from pastenet.editor import create_app
    app = create_app(model="faces-poisson-256")     # then: uvicorn.run(app, host="127.0.0.1", port=8765)

Uploads are decoded in memory by :func:`pastenet.imageio.decode_image_bytes` and kept in a
bounded LRU; no path from a request reaches the file system.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "serve", "serving"]


def __getattr__(name: str) -> Any:  # Starlette is an optional extra: import it only when used
    if name in ("create_app", "serve", "serving"):
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""The editor's ASGI app: JSON endpoints over :mod:`pastenet.paste` and :mod:`pastenet.classic`.

Endpoints
---------
``GET /``
    The page (``static/index.html``); ``/static/...`` its script and style sheet.
``POST /api/upload``
    The request body is an image file (any format pastegen decodes; 16-bit, grey, RGBA kept; EXIF
    orientation applied). Returns ``{"id", "width", "height", "channels", "dtype"}``. Errors: 413
    for more than ``max_upload_bytes`` bytes or ``max_pixels`` pixels, 400 for anything that is
    not a usable image.
``GET /api/image/{id}.png``
    An upload as PNG (as decoded: upright, 16 bits kept): what the page shows and masks, and the
    file the reproducing command names.
``POST /api/paste``
    JSON ``{"target", "source", "mask", "offset": [dy, dx], "method", "seed", "scale", "angle"}``;
    ``mask`` a PNG data URL (the source's size, any non-zero colour inside); optional ``scale``
    (0.1..10, default 1) and ``angle`` (degrees counter-clockwise, -360..360, default 0) turn the
    region about its mask box's centre first (:func:`pastenet.placement.transform_region`), and
    ``offset`` still places that centre. Returns ``{"image"`` (a PNG data
    URL), ``"width", "height", "seconds", "method", "command", "warnings"}``.
``POST /api/prepare``
    JSON ``{"source", "mask", "scale", "angle"}`` and an optional ``"target"``: factorises the
    Poisson system that pasting this region will solve (:func:`pastenet.seam.prepare`), so that the
    paste that follows, wherever the region is placed, skips that step (most of a paste's time for
    a large region); with the target, also the system of the region grown by the network's
    context (:func:`pastenet.paste.prepare_paste`; it loads the model). The page calls it when the
    region or its scale and angle change. Returns ``{"prepared", "seconds"}``.

Every error is JSON ``{"error": "one line"}`` with a 4xx status (5xx for a bug); the server
keeps running. The model loads on the first network paste and runs under a lock; requests run
in Starlette's thread pool, so two tabs can paste at once.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from pastegen.errors import first_line

from ..errors import ImageTooLargeError, PasteError, PastenetError, PasteWarning
from ..placement import check_transform, transform_region

__all__ = ["create_app", "serve", "Uploads", "DEFAULT_MODEL", "MAX_UPLOAD_BYTES", "MAX_UPLOADS"]

STATIC = Path(__file__).with_name("static")
#: The zoo model the editor uses by default.
DEFAULT_MODEL = "faces-poisson-256"
#: Largest accepted upload (bytes).
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
#: Uploads kept in memory (least recently used dropped first).
MAX_UPLOADS = 16
#: Largest total of decoded pixels' bytes kept in memory.
MAX_UPLOAD_MEMORY = 1024 * 1024 * 1024
_ID = re.compile(r"^[0-9a-f]{16}$")


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Upload:
    image: np.ndarray

    @property
    def info(self) -> dict[str, Any]:
        c = 1 if self.image.ndim == 2 else int(self.image.shape[2])
        return {"width": int(self.image.shape[1]), "height": int(self.image.shape[0]), "channels": c, "dtype": str(self.image.dtype)}


class Uploads:
    """A thread-safe LRU of decoded uploads, bounded by count and by bytes."""

    def __init__(self, max_items: int = MAX_UPLOADS, max_bytes: int = MAX_UPLOAD_MEMORY) -> None:
        self.max_items = int(max_items)
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[str, Upload] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, image: np.ndarray) -> str:
        key = secrets.token_hex(8)
        with self._lock:
            self._items[key] = Upload(image)
            while len(self._items) > self.max_items or (len(self._items) > 1 and self.nbytes > self.max_bytes):
                self._items.popitem(last=False)
        return key

    def get(self, key: Any, what: str = "image") -> Upload:
        if not isinstance(key, str) or not _ID.match(key):
            raise HTTPError(400, f"the {what} id must be an upload id, got {key!r}")
        with self._lock:
            upload = self._items.get(key)
            if upload is None:
                raise HTTPError(404, f"the {what} is no longer on the server (uploads are kept in memory, the oldest dropped): load it again")
            self._items.move_to_end(key)
            return upload

    @property
    def nbytes(self) -> int:
        return sum(u.image.nbytes for u in self._items.values())

    def __len__(self) -> int:
        return len(self._items)


def _decode_mask(text: Any) -> np.ndarray:
    from ..imageio import decode_image_bytes

    if not isinstance(text, str) or not text:
        raise HTTPError(400, "the mask must be a PNG data URL (data:image/png;base64,...)")
    if text.startswith("data:"):
        head, _, text = text.partition(",")
        if ";base64" not in head:
            raise HTTPError(400, "the mask data URL must be base64-encoded")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPError(400, "the mask is not valid base64") from None
    return decode_image_bytes(data, what="mask")


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _number(x: float) -> str:
    """Shortest text that reads back as exactly ``x``."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def reproduce_command(method: str, model: str, offset: tuple[int, int], seed: int, scale: float = 1.0, angle: float = 0.0) -> str:
    """The ``pastenet paste`` command that gives the same result from the files the page saves."""
    parts = ["pastenet paste"]
    if method == "network":
        parts.append(f"--model {model}")
    parts += ["--target target.png --source source.png --mask mask.png", f"--offset={offset[0]},{offset[1]}"]
    if scale != 1.0:
        parts.append(f"--region-scale {_number(scale)}")
    if angle != 0.0:
        parts.append(f"--region-angle={_number(angle)}")
    if method != "network":
        parts.append(f"--method {method}")
    elif seed:
        parts.append(f"--seed {seed}")
    parts.append("-o result.png")
    return " ".join(parts)


def create_app(
    model: Any = DEFAULT_MODEL,
    *,
    device: str = "cpu",
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    max_pixels: int | None = None,
    max_uploads: int = MAX_UPLOADS,
    max_upload_memory: int = MAX_UPLOAD_MEMORY,
) -> Starlette:
    """The editor's ASGI app.

    Parameters
    ----------
    model : str or PasteModel
        A zoo name, run folder, checkpoint or weights file (loaded on the first network paste), or
        a loaded :class:`~pastenet.loading.PasteModel`.
    device : str
        Where the network runs (``"cpu"``, ``"cuda"``, ``"auto"``).
    max_upload_bytes : int
        Largest accepted upload (bytes); larger ones get a 413.
    max_pixels : int, optional
        Largest accepted image (pixels, from its header); default pastegen's limit.
    max_uploads, max_upload_memory : int
        The bounds of the in-memory LRU of uploads.
    """
    from ..classic import METHODS, classic_paste
    from ..imageio import decode_image_bytes, encode_png
    from ..loading import PasteModel, load_generator
    from ..paste import binarise_mask, prepare_paste
    from ..paste import paste as network_paste
    from ..seam import prepare as prepare_seam

    uploads = Uploads(max_uploads, max_upload_memory)
    model_lock = threading.Lock()
    loaded: dict[str, PasteModel] = {}
    if isinstance(model, PasteModel):
        loaded["model"] = model
        model_name = "MODEL"
    else:
        model_name = str(model)

    def get_model() -> PasteModel:
        if "model" not in loaded:  # called under model_lock
            loaded["model"] = load_generator(model_name, device=device)
        return loaded["model"]

    def handler(fn: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def wrapped(request: Request) -> Response:
            try:
                return await fn(request)
            except HTTPError as e:
                return JSONResponse({"error": e.message}, status_code=e.status)
            except ImageTooLargeError as e:
                return JSONResponse({"error": first_line(e)}, status_code=413)
            except PastenetError as e:
                return JSONResponse({"error": first_line(e)}, status_code=400)
            except Exception as e:  # a bug: say so, keep serving
                return JSONResponse({"error": f"internal error: {type(e).__name__}: {first_line(e)}"}, status_code=500)

        return wrapped

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    async def upload(request: Request) -> Response:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_upload_bytes:
            raise HTTPError(413, f"the file is {int(length) / 2**20:.1f} MB; the limit is {max_upload_bytes / 2**20:.0f} MB")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_upload_bytes:
                raise HTTPError(413, f"the file is larger than the limit of {max_upload_bytes / 2**20:.0f} MB")
            chunks.append(chunk)
        data = b"".join(chunks)
        if not data:
            raise HTTPError(400, "the upload is empty: send the image file as the request body")
        image = await run_in_threadpool(decode_image_bytes, data, what="image", max_pixels=max_pixels)
        key = uploads.add(image)
        return JSONResponse({"id": key, **Upload(image).info})

    async def image(request: Request) -> Response:
        up = uploads.get(request.path_params["key"])
        png = await run_in_threadpool(encode_png, up.image)
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    def region(body: dict[str, Any], source: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, int], float, float]:
        """The request's region (``mask`` decoded from it), scaled and turned: ``(source, mask, offset shift, scale, angle)``."""
        if mask.shape[:2] != source.shape[:2]:
            raise HTTPError(400, f"the mask is {mask.shape[1]}x{mask.shape[0]} but the source is {source.shape[1]}x{source.shape[0]}; "
                                 "they must have the same size")
        try:
            scale, angle = check_transform(body.get("scale", 1.0), body.get("angle", 0.0))
        except PasteError as e:
            raise HTTPError(400, str(e)) from None
        src, msk, shift = transform_region(source, mask, scale=scale, angle=angle)
        return src, msk, shift, scale, angle

    def do_prepare(body: dict[str, Any]) -> dict[str, Any]:
        source = uploads.get(body.get("source"), "source").image
        started = time.perf_counter()
        mask = _decode_mask(body.get("mask"))
        if not mask.any():  # nothing drawn yet (or cleared): nothing to prepare
            return {"prepared": False, "seconds": 0.0}
        _, msk, _, _, _ = region(body, source, mask)
        if body.get("target") is None:
            prepare_seam(binarise_mask(msk))  # the paste's mask rule: any colour channel, alpha ignored
        else:  # the network's paste also solves the region grown by its context: prepare both
            target = uploads.get(body.get("target"), "target").image
            with model_lock:
                model = get_model()
            prepare_paste(model, target.shape[:2], msk)
        return {"prepared": bool(np.asarray(msk).any()), "seconds": round(time.perf_counter() - started, 3)}

    def do_paste(body: dict[str, Any]) -> dict[str, Any]:
        method = body.get("method", "network")
        if method not in METHODS:
            raise HTTPError(400, f"method must be one of {', '.join(METHODS)}, got {method!r}")
        target = uploads.get(body.get("target"), "target").image
        source = uploads.get(body.get("source"), "source").image
        offset = body.get("offset", [0, 0])
        if not (isinstance(offset, list) and len(offset) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in offset)):
            raise HTTPError(400, f"offset must be two integers [dy, dx], got {offset!r}")
        seed = body.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise HTTPError(400, f"seed must be an integer >= 0, got {seed!r}")
        started = time.perf_counter()
        src, msk, shift, scale, angle = region(body, source, _decode_mask(body.get("mask")))
        placed = (offset[0] + shift[0], offset[1] + shift[1])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", PasteWarning)
            if method == "network":
                with model_lock:
                    result = network_paste(get_model(), target, src, msk, offset=placed, seed=seed)
            else:
                result, _ = classic_paste(target, src, msk, offset=placed, method=method)
        seconds = time.perf_counter() - started
        return {
            "image": _data_url(encode_png(result)),
            "width": int(result.shape[1]),
            "height": int(result.shape[0]),
            "seconds": round(seconds, 3),
            "method": method,
            "command": reproduce_command(method, model_name, (offset[0], offset[1]), seed, scale, angle),
            "warnings": [str(w.message) for w in caught if issubclass(w.category, PasteWarning)],
        }

    async def json_body(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise HTTPError(400, "the request body must be JSON") from None
        if not isinstance(body, dict):
            raise HTTPError(400, "the request body must be a JSON object")
        return body

    async def paste(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(do_paste, await json_body(request)))

    async def prepare(request: Request) -> Response:
        """Factorise the region's Poisson system while the user places it (``pastenet.seam.prepare``)."""
        return JSONResponse(await run_in_threadpool(do_prepare, await json_body(request)))

    async def info(request: Request) -> Response:
        return JSONResponse({"model": model_name, "methods": list(METHODS), "max_upload_bytes": max_upload_bytes})

    routes = [
        Route("/", handler(index)),
        Route("/api/info", handler(info)),
        Route("/api/upload", handler(upload), methods=["POST"]),
        Route("/api/image/{key}.png", handler(image)),
        Route("/api/paste", handler(paste), methods=["POST"]),
        Route("/api/prepare", handler(prepare), methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.uploads = uploads
    return app


def serve(app: Starlette, *, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve ``app`` with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning")


@contextmanager
def serving(app: Starlette, *, host: str = "127.0.0.1", port: int = 0, timeout: float = 10.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a background thread for the ``with`` block; yields its address.

    For tests, benchmarks and notebooks. ``port=0`` takes a free port. The server stops (and its
    thread is joined) when the block ends.

    Raises
    ------
    RuntimeError
        The server did not start within ``timeout`` seconds.
    """
    import socket

    import uvicorn

    if port == 0:
        with socket.socket() as s:
            s.bind((host, 0))
            port = int(s.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError(f"the editor's server did not start on {host}:{port}")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=timeout)

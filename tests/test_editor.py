"""``pastenet edit``: the editor's endpoints, over real HTTP against a server on a free port."""

from __future__ import annotations

import base64
import io
import json
import struct
import urllib.error
import urllib.request
import zlib
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest

pytest.importorskip("starlette")
uvicorn = pytest.importorskip("uvicorn")

from pastenet.classic import classic_paste  # noqa: E402
from pastenet.editor.app import create_app, reproduce_command, serving  # noqa: E402
from pastenet.seam import poisson_blend  # noqa: E402

MAX_BYTES = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def server():
    with serving(create_app("faces-poisson-256", device="cpu", max_upload_bytes=MAX_BYTES, max_uploads=8)) as url:
        yield url


def _request(url: str, data: bytes | None = None, *, json_body=None) -> tuple[int, bytes, str]:
    headers = {}
    if json_body is not None:
        data = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=headers, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers.get("Content-Type", "")


def _png(image: np.ndarray) -> bytes:
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    return cv2.imencode(".png", image)[1].tobytes()


def _decode_png(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return image


def _photo(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([yy * 255 // max(h - 1, 1), xx * 255 // max(w - 1, 1), (yy + xx) * 127 // max(h + w - 2, 1)], axis=2)
    return np.clip(base + rng.integers(-20, 20, (h, w, 3)), 0, 255).astype(np.uint8)


def _upload(server: str, data: bytes) -> tuple[int, dict]:
    status, body, ctype = _request(server + "/api/upload", data)
    assert ctype.startswith("application/json")
    return status, json.loads(body)


def _mask_url(mask: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(_png(mask.astype(np.uint8) * 255)).decode()


@pytest.fixture(scope="module")
def pair(server):
    target, source = _photo(96, 128, 1), _photo(80, 72, 2)
    t = _upload(server, _png(target))[1]["id"]
    s = _upload(server, _png(source))[1]["id"]
    mask = np.zeros((80, 72), bool)
    mask[20:60, 16:56] = True
    return target, source, mask, t, s


def _paste(server, t, s, mask, offset, method):
    return _request(server + "/api/paste", json_body={"target": t, "source": s, "mask": _mask_url(mask), "offset": list(offset), "method": method})


# --- uploads ---------------------------------------------------------------------------------------


def test_page_is_served(server):
    status, body, ctype = _request(server + "/")
    assert status == 200 and ctype.startswith("text/html")
    assert b"/static/editor.js" in body
    for name in ("editor.js", "editor.css"):
        assert _request(server + "/static/" + name)[0] == 200


def test_upload_png_and_read_back(server):
    image = _photo(30, 40, 3)
    status, info = _upload(server, _png(image))
    assert status == 200 and (info["width"], info["height"], info["channels"], info["dtype"]) == (40, 30, 3, "uint8")
    status, body, ctype = _request(server + f"/api/image/{info['id']}.png")
    assert status == 200 and ctype == "image/png"
    np.testing.assert_array_equal(_decode_png(body), image)


def test_upload_jpeg_exif_orientation(server):
    from PIL import Image

    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90 degrees clockwise
    Image.fromarray(_photo(20, 50, 4)).save(buf, format="JPEG", exif=exif.tobytes())
    status, info = _upload(server, buf.getvalue())
    assert status == 200 and (info["width"], info["height"]) == (20, 50)
    from pastegen.sources import decode_image

    upright = decode_image(buf.getvalue())  # pastegen's rule: EXIF orientation applied
    shown = _decode_png(_request(server + f"/api/image/{info['id']}.png")[1])
    assert np.abs(shown.astype(int) - upright.astype(int)).mean() < 3


def test_upload_16_bit_grey_rgba(server):
    sixteen = (np.arange(24 * 32 * 3, dtype=np.uint32).reshape(24, 32, 3) * 37 % 65536).astype(np.uint16)
    status, info = _upload(server, _png(sixteen))
    assert status == 200 and info["dtype"] == "uint16" and info["channels"] == 3
    status, body, _ = _request(server + f"/api/image/{info['id']}.png")
    np.testing.assert_array_equal(_decode_png(body), sixteen)
    status, info = _upload(server, _png(_photo(10, 12, 5)[:, :, 0]))
    assert status == 200 and info["channels"] == 1
    rgba = np.dstack([_photo(10, 12, 6), np.full((10, 12), 200, np.uint8)])
    status, info = _upload(server, _png(rgba))
    assert status == 200 and info["channels"] == 4


@pytest.mark.parametrize("data", [b"hello, not an image", b"", _png(np.zeros((40, 40, 3), np.uint8))[:60]], ids=["text", "empty", "truncated"])
def test_upload_bad_file_is_a_json_4xx(server, data):
    status, info = _upload(server, data)
    assert 400 <= status < 500 and isinstance(info["error"], str) and "\n" not in info["error"]


def _oversized_upload(server: str, *, chunked: bool) -> tuple[int, dict]:
    """Send the headers of a too-large upload and part of its body, then read the reply.

    The server answers without reading the whole body (so a client that went on writing could see
    the connection closed before it reads the reply): only a small part is sent before reading.
    """
    import http.client
    from urllib.parse import urlsplit

    url = urlsplit(server)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.putrequest("POST", "/api/upload")
        if chunked:  # no Content-Length: the limit is enforced while reading
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            block = b"\x89PNG" + bytes(256 * 1024 - 4)
            for _ in range(MAX_BYTES // len(block) + 2):
                conn.send(f"{len(block):x}\r\n".encode() + block + b"\r\n")
        else:
            conn.putheader("Content-Length", str(MAX_BYTES + 10))
            conn.endheaders()
            conn.send(b"\x89PNG" + bytes(1024))
        reply = conn.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        conn.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_upload_too_many_bytes(server, chunked):
    status, info = _oversized_upload(server, chunked=chunked)
    assert status == 413 and "limit" in info["error"]
    status, _ = _upload(server, b"x")
    assert status == 400  # still serving


def _png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    idat = zlib.compress(b"\x00" * 64)  # a little pixel data: the header is what is checked
    chunk += struct.pack(">I", len(idat)) + b"IDAT" + idat + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    return b"\x89PNG\r\n\x1a\n" + chunk


def test_upload_pixel_bomb_refused(server):
    status, info = _upload(server, _png_header(20000, 20000))  # 400 million pixels: over pastegen's 100 million
    assert status == 413 and "too large" in info["error"]
    status, _ = _upload(server, b"x")
    assert status == 400  # still serving


def test_unknown_or_bad_ids(server):
    assert _request(server + "/api/image/0123456789abcdef.png")[0] == 404
    assert _request(server + "/api/image/..%2F..%2Fetc%2Fpasswd.png")[0] in (400, 404)


# --- pastes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["naive", "poisson-normal", "poisson-mixed", "network"])
def test_paste_each_method(server, pair, method):
    target, source, mask, t, s = pair
    offset = (10, 30)
    status, body, _ = _paste(server, t, s, mask, offset, method)
    assert status == 200, body
    r = json.loads(body)
    out = _decode_png(base64.b64decode(r["image"].split(",", 1)[1]))
    assert out.shape == target.shape and out.dtype == np.uint8
    placed = np.zeros(target.shape[:2], bool)
    placed[30:70, 46:86] = True
    np.testing.assert_array_equal(out[~placed], target[~placed])
    assert not np.array_equal(out[placed], target[placed])
    if method == "naive":
        np.testing.assert_array_equal(out[30:70, 46:86], source[20:60, 16:56])
    assert r["method"] == method and r["seconds"] >= 0
    assert "--offset=10,30" in r["command"] and "-o result.png" in r["command"]
    assert ("--model faces-poisson-256" in r["command"]) == (method == "network")


@pytest.mark.parametrize(
    ("case", "fix"),
    [
        ("empty mask", lambda m: np.zeros_like(m)),
        ("mask size", lambda m: m[:-4]),
    ],
)
def test_paste_bad_mask(server, pair, case, fix):
    _, _, mask, t, s = pair
    status, body, _ = _paste(server, t, s, fix(mask), (0, 0), "naive")
    assert 400 <= status < 500, case
    assert json.loads(body)["error"]


def test_paste_region_outside(server, pair):
    _, _, mask, t, s = pair
    status, body, _ = _paste(server, t, s, mask, (500, 0), "poisson-normal")
    assert status == 400 and "outside" in json.loads(body)["error"]


def test_paste_bad_requests(server, pair):
    _, _, mask, t, s = pair
    assert _paste(server, t, s, mask, (0, 0), "magic")[0] == 400
    assert _paste(server, t, "nope", mask, (0, 0), "naive")[0] == 400
    assert _request(server + "/api/paste", b"not json")[0] == 400
    body = {"target": t, "source": s, "mask": "data:image/png;base64,!!!", "offset": [0, 0], "method": "naive"}
    assert _request(server + "/api/paste", json_body=body)[0] == 400
    body = {"target": t, "source": s, "mask": _mask_url(mask), "offset": [0.5, 0], "method": "naive"}
    assert _request(server + "/api/paste", json_body=body)[0] == 400



@pytest.mark.parametrize("method", ["naive", "poisson-normal"])
def test_paste_scale_and_angle(server, pair, method):
    from pastenet.placement import transform_region

    target, source, mask, t, s = pair
    body = {"target": t, "source": s, "mask": _mask_url(mask), "offset": [10, 30], "method": method, "scale": 1.5, "angle": 30}
    status, raw, _ = _request(server + "/api/paste", json_body=body)
    assert status == 200, raw
    r = json.loads(raw)
    out = _decode_png(base64.b64decode(r["image"].split(",", 1)[1]))
    src2, msk2, (sy, sx) = transform_region(source, mask, scale=1.5, angle=30)
    expected, placed = classic_paste(target, src2, msk2, offset=(10 + sy, 30 + sx), method=method)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(out[~placed], target[~placed])
    assert abs(placed.sum() / mask.sum() - 2.25) < 0.1 * 2.25  # nothing cut at this offset
    assert "--region-scale 1.5" in r["command"] and "--region-angle=30" in r["command"]
    plain = json.loads(_paste(server, t, s, mask, (10, 30), method)[1])["command"]
    assert "--region" not in plain


@pytest.mark.parametrize("bad", [{"scale": 0}, {"scale": 50}, {"scale": "2"}, {"scale": None}, {"angle": 1000}, {"angle": [1]}, {"scale": True}])
def test_paste_bad_scale_or_angle(server, pair, bad):
    _, _, mask, t, s = pair
    body = {"target": t, "source": s, "mask": _mask_url(mask), "offset": [0, 0], "method": "naive", **bad}
    status, raw, _ = _request(server + "/api/paste", json_body=body)
    assert status == 400 and ("scale" in json.loads(raw)["error"] or "angle" in json.loads(raw)["error"])


def test_two_concurrent_pastes(server, pair):
    target, _, mask, t, s = pair
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(_paste, server, t, s, mask, (5, 5), m) for m in ("network", "poisson-mixed")]
        results = [f.result() for f in futures]
    assert [r[0] for r in results] == [200, 200]


# --- the pieces underneath -------------------------------------------------------------------------


def test_poisson_mixed_matches_the_benchmark_baseline():
    baselines = pytest.importorskip("benchmarks.baselines")
    rng = np.random.default_rng(0)
    target = rng.integers(0, 256, (24, 30, 3), dtype=np.uint8)
    source = rng.integers(0, 256, (24, 30, 3), dtype=np.uint8)
    mask = np.zeros((24, 30), bool)
    mask[5:18, 0:12] = True  # touches the image border
    for mixed, reference in ((False, baselines.poisson_normal), (True, baselines.poisson_mixed)):
        ours = poisson_blend(source.astype(np.float64), target.astype(np.float64), mask, mixed=mixed)
        expected = reference(target, source, mask)
        assert np.abs(np.rint(np.clip(ours, 0, 255)).astype(int) - expected.astype(int)).max() <= 1


def test_classic_paste_keeps_dtype_alpha_and_grey():
    target = np.dstack([(_photo(20, 20, 7).astype(np.uint16) * 257), np.full((20, 20), 999, np.uint16)])
    source = _photo(20, 20, 8)[:, :, 0]
    mask = np.zeros((20, 20), bool)
    mask[4:12, 4:12] = True
    out, placed = classic_paste(target, source, mask, offset=(2, 3), method="poisson-mixed")
    assert out.dtype == np.uint16 and out.shape == target.shape
    np.testing.assert_array_equal(out[~placed], target[~placed])
    np.testing.assert_array_equal(out[..., 3], target[..., 3])


def test_reproduce_command():
    assert reproduce_command("naive", "m", (-3, 4), 0) == (
        "pastenet paste --target target.png --source source.png --mask mask.png --offset=-3,4 --method naive -o result.png"
    )
    assert reproduce_command("naive", "m", (0, 0), 0, 0.1, -12.5) == (
        "pastenet paste --target target.png --source source.png --mask mask.png --offset=0,0 "
        "--region-scale 0.1 --region-angle=-12.5 --method naive -o result.png"
    )


def test_cli_paste_method_and_edit(tmp_path, monkeypatch):
    from click.testing import CliRunner

    import pastenet.editor.app as editor_app
    from pastenet.cli import main

    target, source = _photo(40, 50, 9), _photo(30, 30, 10)
    mask = np.zeros((30, 30), np.uint8)
    mask[5:20, 5:20] = 255
    for name, image in (("target.png", target), ("source.png", source), ("mask.png", mask)):
        (tmp_path / name).write_bytes(_png(image))
    runner = CliRunner()
    args = ["paste", "--target", str(tmp_path / "target.png"), "--source", str(tmp_path / "source.png"), "--mask", str(tmp_path / "mask.png"),
            "--offset=3,4", "-o", str(tmp_path / "out.png")]
    r = runner.invoke(main, args + ["--method", "naive"])
    assert r.exit_code == 0, r.output
    out = _decode_png((tmp_path / "out.png").read_bytes())
    np.testing.assert_array_equal(out[8:23, 9:24], source[5:20, 5:20])
    r = runner.invoke(main, args)
    assert r.exit_code == 2 and "--model is needed" in r.output

    served = []
    monkeypatch.setattr(editor_app, "serve", lambda app, host, port: served.append((host, port)))
    r = runner.invoke(main, ["edit", "--port", "9999"])
    assert r.exit_code == 0 and served == [("127.0.0.1", 9999)] and "http://127.0.0.1:9999/" in r.output and "Warning" not in r.output
    r = runner.invoke(main, ["edit", "--host", "0.0.0.0"])
    assert r.exit_code == 0 and "Warning: binding to 0.0.0.0" in r.output


def test_prepare_factorises_the_region_ahead_and_the_paste_is_the_same(server):
    from pastenet import seam

    target, source = _photo(96, 120, 0), _photo(80, 100, 1)
    t_id, s_id = _upload(server, _png(target))[1]["id"], _upload(server, _png(source))[1]["id"]
    mask = np.zeros(source.shape[:2], np.uint8)
    mask[20:61, 30:81] = 255
    body = {"source": s_id, "mask": _mask_url(mask), "scale": 1.0, "angle": 0.0}
    seam._FACTORS.clear()
    status, reply, _ = _request(server + "/api/prepare", json_body=body)
    assert status == 200 and json.loads(reply)["prepared"] is True
    assert len(seam._FACTORS) == 1  # the region's system (same process: the server runs in a thread)
    seam._FACTORS.clear()
    status, reply, _ = _request(server + "/api/prepare", json_body=dict(body, target=t_id))
    assert status == 200 and len(seam._FACTORS) == 2  # and, knowing the target, the region grown by the model's context
    paste_body = {"target": t_id, "source": s_id, "mask": _mask_url(mask), "offset": [5, -7], "method": "network"}
    status, reply, _ = _request(server + "/api/paste", json_body=paste_body)
    assert status == 200 and len(seam._FACTORS) == 2  # the paste found both
    prepared = json.loads(reply)["image"]
    seam._FACTORS.clear()
    status, reply, _ = _request(server + "/api/paste", json_body=paste_body)
    assert json.loads(reply)["image"] == prepared
    # an empty region prepares nothing (the page sends one after "clear"); a bad body is a 400
    status, reply, _ = _request(server + "/api/prepare", json_body=dict(body, mask=_mask_url(mask * 0)))
    assert status == 200 and json.loads(reply)["prepared"] is False
    assert _request(server + "/api/prepare", json_body=dict(body, scale=0))[0] == 400

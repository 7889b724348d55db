"""``pastenet edit`` end to end in a real headless Chromium (Debian's ``chromium`` and
``chromium-driver`` through Selenium; no browser is downloaded, nothing leaves 127.0.0.1).

The test loads two photos with the file pickers, draws a rectangle on the source with the mouse,
drags the cut-out on the target, pastes, downloads the result and the mask through the page's
links, and checks the PNGs; a second test drives the lasso, invert, undo/redo, the feather preview,
the before/after slider and the side-by-side comparison of every method; a third scales and rotates
the cut-out with its handles, number fields and keys before a paste. It skips, saying why, where the browser, its driver or Selenium is
missing (``.ci/run`` installs them where it can).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
uvicorn = pytest.importorskip("uvicorn")
pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[test]'): the browser test is skipped")

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from pastenet.editor.app import create_app, serving  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server():
    with serving(create_app("faces-poisson-256", device="cpu")) as url:
        yield url


def chrome(download_dir: Path, width: int = 1280, height: int = 800) -> webdriver.Chrome:
    """Headless Chromium from /usr/bin, downloading into ``download_dir``; skips when it cannot start."""
    found = []
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        where = path if Path(path).is_file() else shutil.which(Path(path).name)
        if where is None:
            pytest.skip(f"{path} is missing (apt-get install {package}): the browser test is skipped")
        found.append(where)
    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", f"--window-size={width},{height}",
                "--no-first-run", "--disable-extensions", "--disable-background-networking", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": str(download_dir), "download.prompt_for_download": False})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        return webdriver.Chrome(service=webdriver.ChromeService(found[1]), options=options)
    except WebDriverException as e:
        pytest.skip(f"headless Chromium does not start here: {str(e).splitlines()[0]}")


@pytest.fixture
def browser(tmp_path):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver = chrome(downloads)
    yield driver
    driver.quit()


def _png(path: Path, image: np.ndarray) -> Path:
    from PIL import Image

    Image.fromarray(image).save(path)
    return path


def _read_png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im)


def _photos(tmp_path: Path) -> tuple[np.ndarray, np.ndarray, Path, Path]:
    """The astronaut (target) and a second photo (source), both 256 pixels wide."""
    from pastenet.demo import demo_inputs

    target, source, _, _ = demo_inputs(256)
    return target, source, _png(tmp_path / "target.png", target), _png(tmp_path / "source.png", source)


def _severe(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _offset_of(driver, canvas_id: str, x: float, y: float) -> tuple[int, int]:
    """Image pixel (x, y) of a canvas as a CSS offset from the element's centre (what ActionChains takes)."""
    r = driver.execute_script(
        "const c = document.getElementById(arguments[0]); const r = c.getBoundingClientRect();"
        "return [r.width, r.height, c.width, c.height];", canvas_id)
    cw, ch, w, h = r
    return round(x * cw / w - cw / 2), round(y * ch / h - ch / 2)


def _css_scale(driver, canvas_id: str) -> float:
    return driver.execute_script("const c = document.getElementById(arguments[0]); return c.getBoundingClientRect().width / c.width;", canvas_id)


def _load(driver, which: str, path: Path, width: int) -> None:
    driver.find_element(By.ID, f"{which}-file").send_keys(str(path))
    WebDriverWait(driver, 10).until(lambda d: d.execute_script(f"return document.getElementById('{which}-canvas').width") == width)


def _drag(driver, canvas_id: str, a: tuple[float, float], b: tuple[float, float]) -> None:
    canvas = driver.find_element(By.ID, canvas_id)
    (ax, ay), (bx, by) = _offset_of(driver, canvas_id, *a), _offset_of(driver, canvas_id, *b)
    chain = ActionChains(driver, duration=20).move_to_element_with_offset(canvas, ax, ay).click_and_hold()
    for k in (1, 2, 3, 4):  # a few moves, as a hand would make
        chain = chain.move_to_element_with_offset(canvas, ax + (bx - ax) * k // 4, ay + (by - ay) * k // 4)
    chain.release().perform()


def _paste(driver, method: str, timeout: float) -> None:
    Select(driver.find_element(By.ID, "method")).select_by_value(method)
    driver.find_element(By.ID, "paste").click()
    WebDriverWait(driver, timeout).until(
        lambda d: d.find_element(By.ID, "download-result").is_displayed() or d.find_element(By.ID, "error").is_displayed())
    assert not driver.find_element(By.ID, "error").is_displayed(), driver.find_element(By.ID, "error").text


def _download(driver, folder: Path, link_id: str, name: str) -> np.ndarray:
    """Click a download link of the page; the file Chromium saves in ``folder``, read."""
    path = folder / name
    path.unlink(missing_ok=True)
    driver.find_element(By.ID, link_id).click()
    deadline = time.monotonic() + 10
    while not path.is_file():
        assert time.monotonic() < deadline, f"{name} was not downloaded"
        time.sleep(0.05)
    time.sleep(0.1)  # Chromium renames the .crdownload when it is complete
    return _read_png(path)


def _load_both_and_draw_a_box(driver, server, tmp_path):
    """Open the page, load the two photos and draw a box over the face (source pixels 100..170, 80..150)."""
    target, source, target_path, source_path = _photos(tmp_path)
    driver.get(server + "/")
    _load(driver, "target", target_path, target.shape[1])
    _load(driver, "source", source_path, source.shape[1])
    driver.find_element(By.CSS_SELECTOR, "input[name=tool][value=rect]").click()
    _drag(driver, "source-canvas", (100, 80), (170, 150))
    return target, source


@pytest.mark.parametrize("method", ["naive", "network"])
def test_paste_in_the_browser(server, browser, tmp_path, method):
    driver = browser
    target, source = _load_both_and_draw_a_box(driver, server, tmp_path)
    start = (135, 115)  # inside the cut-out, which starts where it is in the source
    _drag(driver, "target-canvas", start, (start[0] - 40, start[1] - 20))
    dy, dx = (int(v) for v in driver.find_element(By.ID, "offset").text.split(","))
    scale = _css_scale(driver, "target-canvas")
    assert abs(dy + 20) <= 2 / scale + 1 and abs(dx + 40) <= 2 / scale + 1, (dy, dx)
    canvas = driver.find_element(By.ID, "target-canvas")  # focused by the drag: arrow keys nudge it
    canvas.send_keys(Keys.ARROW_DOWN, Keys.SHIFT + Keys.ARROW_RIGHT)
    assert driver.find_element(By.ID, "offset").text == f"{dy + 1}, {dx + 10}"
    canvas.send_keys(Keys.ARROW_UP, Keys.SHIFT + Keys.ARROW_LEFT)
    assert driver.find_element(By.ID, "offset").text == f"{dy}, {dx}"

    _paste(driver, method, timeout=60)
    result = _download(driver, tmp_path / "downloads", "download-result", "result.png")
    mask = _download(driver, tmp_path / "downloads", "download-mask", "mask.png")
    assert mask.shape[:2] == source.shape[:2]
    inside = (mask[..., 0] if mask.ndim == 3 else mask) > 127
    ys, xs = np.nonzero(inside)
    # the rectangle drawn, within a pixel or two of CSS rounding
    assert abs(ys.min() - 80) <= 3 and abs(ys.max() - 150) <= 3 and abs(xs.min() - 100) <= 3 and abs(xs.max() - 170) <= 3
    assert result.shape == target.shape and result.dtype == np.uint8
    placed = np.zeros(target.shape[:2], bool)
    placed[ys + dy, xs + dx] = True
    np.testing.assert_array_equal(result[~placed], target[~placed])
    assert np.abs(result[placed].astype(int) - target[placed].astype(int)).mean() > 5
    if method == "naive":
        np.testing.assert_array_equal(result[ys + dy, xs + dx], source[ys, xs])
    assert f"--offset={dy},{dx}" in driver.find_element(By.ID, "command").text
    assert _severe(driver) == []


def test_bad_input_is_a_message_in_the_page(server, browser, tmp_path):
    driver = browser
    target, source, target_path, source_path = _photos(tmp_path)
    (tmp_path / "notes.png").write_bytes(b"not an image at all")
    driver.get(server + "/")
    driver.find_element(By.ID, "paste").click()
    assert "load a source and a target first" in driver.find_element(By.ID, "error").text
    driver.find_element(By.ID, "target-file").send_keys(str(tmp_path / "notes.png"))
    error = driver.find_element(By.ID, "error")
    WebDriverWait(driver, 10).until(lambda d: error.is_displayed() and error.text.startswith("target:"))
    _load(driver, "target", target_path, target.shape[1])  # the page goes on working
    _load(driver, "source", source_path, source.shape[1])
    assert not error.is_displayed()
    driver.find_element(By.ID, "paste").click()
    assert "the region is empty" in error.text
    driver.find_element(By.CSS_SELECTOR, "input[name=tool][value=rect]").click()
    _drag(driver, "source-canvas", (100, 80), (170, 150))
    _drag(driver, "target-canvas", (135, 115), (250, 115))  # then pushed off the target with the keys
    driver.find_element(By.ID, "target-canvas").send_keys(*[Keys.SHIFT + Keys.ARROW_RIGHT] * 15)
    Select(driver.find_element(By.ID, "method")).select_by_value("poisson-normal")
    driver.find_element(By.ID, "paste").click()
    WebDriverWait(driver, 10).until(lambda d: error.is_displayed() and error.text.startswith("paste:"))
    assert "outside" in error.text
    # the failed requests are the only errors in the console (Chromium logs each 4xx reply)
    assert all("status of 400" in m for m in _severe(driver)), _severe(driver)


def _mask_count(driver) -> int:
    return driver.execute_script("return window.pastenetEditor.maskCount()")


def _canvas_sum(driver, canvas_id: str, box: tuple[int, int, int, int] | None = None) -> int:
    """Sum of the RGB values the page shows on a canvas, in image pixels ``(x0, y0, x1, y1)`` or all of it."""
    return driver.execute_script(
        "const c = document.getElementById(arguments[0]); const b = arguments[1] || [0, 0, c.width, c.height];"
        "const d = c.getContext('2d').getImageData(b[0], b[1], b[2] - b[0], b[3] - b[1]).data;"
        "let s = 0; for (let i = 0; i < d.length; i += 4) s += d[i] + d[i + 1] + d[i + 2]; return s;", canvas_id, box)


def _keys(driver, *keys: str, shift: bool = False) -> None:
    chain = ActionChains(driver).key_down(Keys.CONTROL)
    if shift:
        chain = chain.key_down(Keys.SHIFT)
    chain = chain.send_keys(*keys)
    if shift:
        chain = chain.key_up(Keys.SHIFT)
    chain.key_up(Keys.CONTROL).perform()


def test_editing_tools_in_the_browser(server, browser, tmp_path):
    """Lasso, invert, undo/redo (buttons and keys), the feather preview, the before/after slider and compare."""
    driver = browser
    target, source, target_path, source_path = _photos(tmp_path)
    h, w = source.shape[:2]
    driver.get(server + "/")
    assert "77 of 78 real face cases" in driver.find_element(By.ID, "method-note").text
    assert Select(driver.find_element(By.ID, "method")).first_selected_option.get_attribute("value") == "network"
    _load(driver, "target", target_path, target.shape[1])
    _load(driver, "source", source_path, w)

    # lasso: a freehand polygon, closed on mouse-up and filled
    driver.find_element(By.CSS_SELECTOR, "input[name=tool][value=lasso]").click()
    polygon = [(60, 60), (180, 70), (200, 160), (120, 200), (50, 150)]
    canvas = driver.find_element(By.ID, "source-canvas")
    points = [_offset_of(driver, "source-canvas", *p) for p in polygon]
    chain = ActionChains(driver, duration=20).move_to_element_with_offset(canvas, *points[0]).click_and_hold()
    for p in points[1:]:
        chain = chain.move_to_element_with_offset(canvas, *p)
    chain.release().perform()
    xs, ys = np.array([p[0] for p in polygon], float), np.array([p[1] for p in polygon], float)
    area = 0.5 * abs(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1)))
    lasso = _mask_count(driver)
    assert abs(lasso - area) <= 0.2 * area, (lasso, area)

    # invert, then undo/redo with the buttons and with the keys
    driver.find_element(By.ID, "invert").click()
    inverted = _mask_count(driver)
    assert inverted == h * w - lasso
    driver.find_element(By.ID, "undo").click()
    assert _mask_count(driver) == lasso
    driver.find_element(By.ID, "redo").click()
    assert _mask_count(driver) == inverted
    _keys(driver, "z")
    assert _mask_count(driver) == lasso
    _keys(driver, "z", shift=True)
    assert _mask_count(driver) == inverted
    _keys(driver, "z")
    _keys(driver, "y")
    assert _mask_count(driver) == inverted
    driver.find_element(By.ID, "undo").click()
    assert _mask_count(driver) == lasso

    # the feather preview changes what the source canvas shows, not the mask
    plain = _canvas_sum(driver, "source-canvas")
    driver.find_element(By.ID, "feather").click()
    assert _canvas_sum(driver, "source-canvas") != plain
    assert _mask_count(driver) == lasso

    # a rectangle pasted naively (the feather preview still on: the mask sent stays binary)
    driver.find_element(By.ID, "clear").click()
    assert _mask_count(driver) == 0
    driver.find_element(By.CSS_SELECTOR, "input[name=tool][value=rect]").click()
    _drag(driver, "source-canvas", (100, 80), (170, 150))
    _paste(driver, "naive", timeout=60)
    mask = _download(driver, tmp_path / "downloads", "download-mask", "mask.png")
    assert set(np.unique(mask)) <= {0, 255}

    # the before/after slider: the result left of it, the target right of it
    box = (100, 80, 170, 150)  # the region, placed where it is in the source (offset 0, 0)
    reveal = "const r = document.getElementById('reveal'); r.value = arguments[0]; r.dispatchEvent(new Event('input'));"
    after = _canvas_sum(driver, "target-canvas", box)
    driver.execute_script(reveal, 0)
    before = _canvas_sum(driver, "target-canvas", box)
    assert before != after
    driver.execute_script(reveal, 100)
    left = _canvas_sum(driver, "target-canvas", (100, 80, 128, 150))
    right = _canvas_sum(driver, "target-canvas", (128, 80, 170, 150))
    driver.execute_script(reveal, 50)  # the split at x = 128: left of it the result, right of it the target
    assert _canvas_sum(driver, "target-canvas", (100, 80, 128, 150)) == left
    assert _canvas_sum(driver, "target-canvas", (128, 80, 170, 150)) != right

    # compare: every method, four labelled thumbnails; a click shows one large
    driver.find_element(By.ID, "compare").click()
    WebDriverWait(driver, 120).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#thumbs figure")) == 4 or d.find_element(By.ID, "error").is_displayed())
    assert not driver.find_element(By.ID, "error").is_displayed(), driver.find_element(By.ID, "error").text
    WebDriverWait(driver, 10).until(lambda d: not d.find_element(By.ID, "progress").is_displayed())
    figures = driver.find_elements(By.CSS_SELECTOR, "#thumbs figure")
    assert [f.get_attribute("data-method") for f in figures] == ["network", "poisson-normal", "poisson-mixed", "naive"]
    assert all(f.find_element(By.TAG_NAME, "figcaption").text for f in figures)
    figures[2].click()
    assert Select(driver.find_element(By.ID, "method")).first_selected_option.get_attribute("value") == "poisson-mixed"
    assert driver.find_element(By.ID, "download-result").get_attribute("href") == figures[2].find_element(By.TAG_NAME, "img").get_attribute("src")
    assert "--method poisson-mixed" in driver.find_element(By.ID, "command").text
    assert _severe(driver) == []


def _transform(driver) -> tuple[float, float]:
    return (float(driver.find_element(By.ID, "region-scale").get_attribute("value")),
            float(driver.find_element(By.ID, "region-angle").get_attribute("value")))


def _set_number(driver, input_id: str, value: str) -> None:
    field = driver.find_element(By.ID, input_id)
    field.send_keys(Keys.CONTROL + "a" + Keys.NULL, value, Keys.TAB)  # select all, type over it, leave


def test_scale_and_rotate_in_the_browser(server, browser, tmp_path):
    """The corner handle scales, the top handle rotates, the inputs and keys agree; the paste follows."""
    driver = browser
    target, source = _load_both_and_draw_a_box(driver, server, tmp_path)
    h = driver.execute_script("return window.pastenetEditor.handles()")
    (cx, cy), corner = h["c"], h["corner"]
    # the corner handle, dragged out along the diagonal to 1.5 times the distance from the centre
    _drag(driver, "target-canvas", corner, (cx + 1.5 * (corner[0] - cx), cy + 1.5 * (corner[1] - cy)))
    scale, angle = _transform(driver)
    assert abs(scale - 1.5) < 0.1 and angle == 0, (scale, angle)
    assert driver.find_element(By.ID, "offset").text == "0, 0"  # the centre stays put
    # the rotation handle, turned 30 degrees counter-clockwise about the centre
    h = driver.execute_script("return window.pastenetEditor.handles()")
    rx, ry = h["rotate"]
    r = np.hypot(rx - cx, ry - cy)
    a = np.deg2rad(30)
    _drag(driver, "target-canvas", (rx, ry), (cx - r * np.sin(a), cy - r * np.cos(a)))
    scale, angle = _transform(driver)
    assert abs(angle - 30) < 3 and abs(scale - 1.5) < 0.1, (scale, angle)
    # exact values through the inputs; the keys turn and resize by a step and back
    _set_number(driver, "region-scale", "1.5")
    _set_number(driver, "region-angle", "30")
    assert _transform(driver) == (1.5, 30)
    canvas = driver.find_element(By.ID, "target-canvas")
    canvas.send_keys("[")
    assert _transform(driver) == (1.5, 31)
    canvas.send_keys("]", "=")
    assert _transform(driver) == (1.53, 30)
    canvas.send_keys("-")
    assert _transform(driver) == (1.5, 30)

    _paste(driver, "naive", timeout=30)
    result = _download(driver, tmp_path / "downloads", "download-result", "result.png")
    mask = _download(driver, tmp_path / "downloads", "download-mask", "mask.png")
    area = int(((mask[..., 0] if mask.ndim == 3 else mask) > 127).sum())
    changed = int((result != target).any(axis=2).sum())
    assert abs(changed / area - 2.25) < 0.2 * 2.25, (changed, area)
    command = driver.find_element(By.ID, "command").text
    assert "--region-scale 1.5" in command and "--region-angle=30" in command
    assert _severe(driver) == []

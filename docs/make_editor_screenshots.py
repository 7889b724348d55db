"""Regenerate ``docs/editor-before.png`` and ``docs/editor-after.png``: ``pastenet edit`` in headless Chromium.

Grace Hopper's face is pasted onto the astronaut's (the photos and the face positions of
:func:`pastenet.demo.demo_inputs`), with the mouse, as a user would: the two photos loaded with the
file pickers, an ellipse drawn over her face, the cut-out dragged onto the astronaut's face, the
network method, Paste. Needs Debian's ``chromium`` and ``chromium-driver`` and ``selenium``::

    python docs/make_editor_screenshots.py            # writes docs/editor-before.png, docs/editor-after.png
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from PIL import Image
from selenium import webdriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from pastenet.demo import _FACE_AXES, _HOPPER_FACE, _HOPPER_SCALE, demo_inputs
from pastenet.editor.app import DEFAULT_MODEL, create_app, serving

DOCS = Path(__file__).resolve().parent


def _chrome(width: int, height: int) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", f"--window-size={width},{height}",
                "--hide-scrollbars", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=webdriver.ChromeService("/usr/bin/chromedriver"), options=options)
    # the window's size includes the browser's own bars: make the page itself width x height
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    return driver


def _offset(driver: webdriver.Chrome, canvas_id: str, x: float, y: float) -> tuple[int, int]:
    cw, ch, w, h = driver.execute_script(
        "const c = document.getElementById(arguments[0]); const r = c.getBoundingClientRect(); return [r.width, r.height, c.width, c.height];",
        canvas_id)
    return round(x * cw / w - cw / 2), round(y * ch / h - ch / 2)


def _drag(driver: webdriver.Chrome, canvas_id: str, a: tuple[float, float], b: tuple[float, float]) -> None:
    canvas = driver.find_element(By.ID, canvas_id)
    (ax, ay), (bx, by) = _offset(driver, canvas_id, *a), _offset(driver, canvas_id, *b)
    chain = ActionChains(driver, duration=20).move_to_element_with_offset(canvas, ax, ay).click_and_hold()
    for k in range(1, 9):
        chain = chain.move_to_element_with_offset(canvas, ax + (bx - ax) * k // 8, ay + (by - ay) * k // 8)
    chain.release().perform()


def make(out: Path = DOCS, size: int = 384, window: tuple[int, int] = (1280, 800)) -> None:
    target, source, _, (dy, dx) = demo_inputs(size)
    scale = size / 512
    sy, sx = (c * scale for c in _HOPPER_FACE)
    ay, ax = (a * scale for a in _FACE_AXES)
    if source.shape[0] != round(600 * scale * _HOPPER_SCALE):
        raise SystemExit("Grace Hopper's photo (matplotlib's sample data) is needed: pip install matplotlib")
    with serving(create_app(DEFAULT_MODEL, device="cpu")) as url:
        _shoot(url, out, target, source, window, (sy, sx), (ay, ax), (dy, dx))


def _shoot(url: str, out: Path, target, source, window: tuple[int, int], face: tuple[float, float], axes: tuple[float, float],
           offset: tuple[int, int]) -> None:
    (sy, sx), (ay, ax), (dy, dx) = face, axes, offset
    driver = _chrome(*window)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, image in (("astronaut.png", target), ("grace_hopper.png", source)):
                Image.fromarray(image).save(Path(tmp) / name)
            driver.get(url + "/")
            for which, name, width in (("target", "astronaut.png", target.shape[1]), ("source", "grace_hopper.png", source.shape[1])):
                driver.find_element(By.ID, f"{which}-file").send_keys(str(Path(tmp) / name))
                WebDriverWait(driver, 10).until(lambda d, w=which, n=width: d.execute_script(f"return document.getElementById('{w}-canvas').width") == n)
        driver.find_element(By.CSS_SELECTOR, "input[name=tool][value=ellipse]").click()
        _drag(driver, "source-canvas", (sx - ax, sy - ay), (sx + ax, sy + ay))
        _drag(driver, "target-canvas", (sx, sy), (sx + dx, sy + dy))
        Select(driver.find_element(By.ID, "method")).select_by_value("network")
        driver.find_element(By.TAG_NAME, "body").click()  # no focus ring on the canvas in the picture
        driver.save_screenshot(str(out / "editor-before.png"))
        driver.find_element(By.ID, "paste").click()
        WebDriverWait(driver, 120).until(
            lambda d: d.find_element(By.ID, "download-result").is_displayed() or d.find_element(By.ID, "error").is_displayed())
        if driver.find_element(By.ID, "error").is_displayed():
            raise SystemExit("the paste failed: " + driver.find_element(By.ID, "error").text)
        driver.save_screenshot(str(out / "editor-after.png"))
        print("offset", driver.find_element(By.ID, "offset").text, "->", out / "editor-before.png", out / "editor-after.png")
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS, help="folder for the two PNGs (default: docs/)")
    parser.add_argument("--size", type=int, default=384, help="the astronaut photo's width in pixels (default 384)")
    args = parser.parse_args()
    make(args.out, args.size)


if __name__ == "__main__":
    main()

"""``dejpeg compare``: the pages' content (images, quality, PSNR), folders and their index, refusals; and in a
real headless Chromium (tests/browser.py): no console errors, pixel-exact at 100 %, the slider, zoom and pan."""

from __future__ import annotations

import base64
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from browser import browser_missing, chromium, console_errors, rect, screenshot
from PIL import Image

from dejpeg.cli.__main__ import main
from dejpeg.codec import decode, encode, read_qtables
from dejpeg.jpeg import estimate_quality

needs_browser = pytest.mark.skipif(browser_missing() is not None, reason=str(browser_missing()))
SIZE = (48, 64)  # height, width: tiny, so a page restores and renders in well under a second


def data_uri_images(page: str) -> list[np.ndarray]:
    """The images a page embeds, in order (before, after)."""
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(uri)))) for uri in uris]


def reference_psnr(image: np.ndarray, reference: np.ndarray) -> float:
    """PSNR written out from its definition, independently of dejpeg.metrics."""
    mse = np.mean((image.astype(np.float64) - reference.astype(np.float64)) ** 2)
    return 10 * math.log10(255**2 / mse)


@pytest.fixture
def photo(tmp_path, natural_image) -> dict[str, Path]:
    """A 64x48 original, its JPEG at quality 15 and a stand-in restoration (the original lightly blurred)."""
    original = natural_image(*SIZE)
    paths = {"original": tmp_path / "orig" / "photo.png", "jpeg": tmp_path / "in" / "photo.jpg"}
    for path in paths.values():
        path.parent.mkdir()
    Image.fromarray(original).save(paths["original"])
    paths["jpeg"].write_bytes(encode(original, quality=15))
    restored = (original.astype(np.int16) + np.roll(original, 1, axis=1)) // 2
    paths["restored"] = tmp_path / "photo_restored.png"
    Image.fromarray(restored.astype(np.uint8)).save(paths["restored"])
    return paths


def test_page_embeds_both_images_and_states_quality_and_psnr(photo, tmp_path):
    page_path = tmp_path / "page.html"
    args = ["compare", str(photo["jpeg"]), "-o", str(page_path), "--quiet"]
    assert main([*args, "--original", str(photo["original"]), "--restored", str(photo["restored"])]) == 0
    page = page_path.read_text()
    before, after = data_uri_images(page)
    jpeg, restored, original = (
        decode(photo["jpeg"]),
        np.asarray(Image.open(photo["restored"])),
        np.asarray(Image.open(photo["original"])),
    )
    np.testing.assert_array_equal(before, jpeg)
    np.testing.assert_array_equal(after, restored)
    assert "estimated JPEG quality <b>15 (IJG tables)</b>" in page
    jpeg_db, restored_db = reference_psnr(jpeg, original), reference_psnr(restored, original)
    assert f"JPEG {jpeg_db:.2f} dB, restored {restored_db:.2f} dB ({restored_db - jpeg_db:+.2f} dB)" in page
    # Self-contained: no address to fetch anything from.
    assert not re.search(r"(src|href)=\"(?!data:)", page) and "http" not in page.replace("http-equiv", "")


def test_page_restores_as_dejpeg_restore_does(photo, tmp_path):
    """Without --restored, the page's restoration is the image `dejpeg restore` writes (the same model, options)."""
    assert main(["compare", str(photo["jpeg"]), "-o", str(tmp_path / "page.html"), "--quiet"]) == 0
    assert main(["restore", str(photo["jpeg"]), "-o", str(tmp_path / "restored.png"), "--quiet"]) == 0
    after = data_uri_images((tmp_path / "page.html").read_text())[1]
    np.testing.assert_array_equal(after, np.asarray(Image.open(tmp_path / "restored.png")))
    assert "restored by <b>dejpeg_net" in (tmp_path / "page.html").read_text()


def test_page_at_a_strength_restores_as_dejpeg_restore_does(photo, tmp_path):
    page = tmp_path / "page.html"
    assert main(["compare", str(photo["jpeg"]), "-o", str(page), "--strength", "gentle", "--quiet"]) == 0
    restored = tmp_path / "restored.png"
    assert main(["restore", str(photo["jpeg"]), "-o", str(restored), "--strength", "gentle", "--quiet"]) == 0
    default = tmp_path / "default.png"
    assert main(["restore", str(photo["jpeg"]), "-o", str(default), "--quiet"]) == 0
    after = data_uri_images(page.read_text())[1]
    np.testing.assert_array_equal(after, np.asarray(Image.open(restored)))
    assert not np.array_equal(after, np.asarray(Image.open(default)))  # the strength changed the restoration
    assert "at strength 0.25</b>" in page.read_text()


def test_quality_of_non_ijg_tables_is_the_one_dejpeg_info_prints(photo, tmp_path, capsys):
    """IJG's q30 luma table with its q60 chroma table: the page states the nearest quality as ``dejpeg info`` does
    (it reads a table per component, which for these tables gives another answer than one per table slot)."""
    image = decode(photo["jpeg"])
    tables = np.stack([read_qtables(encode(image, quality=30))[0], read_qtables(encode(image, quality=60))[1]])
    path = tmp_path / "odd.jpg"
    path.write_bytes(encode(image, qtables=tables))
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert not info["quality_exact"] and info["quality"] != estimate_quality(read_qtables(path)).quality
    out = tmp_path / "odd.html"
    assert main(["compare", str(path), "-o", str(out), "--restored", str(photo["restored"]), "--quiet"]) == 0
    assert f"<b>{info['quality']} (nearest IJG quality, other tables)</b>" in out.read_text()


def test_folder_gets_one_page_per_jpeg_and_an_index(tmp_path, natural_image, capsys):
    folders = {name: tmp_path / name for name in ("in", "orig", "restored")}
    for i, relative in enumerate(["a.jpg", "b.jpeg", "sub/c.jpg"]):
        image = natural_image(*SIZE, seed=i)
        for name, suffix in (("in", None), ("orig", ".png"), ("restored", ".png")):
            path = folders[name] / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if suffix is None:
                path.write_bytes(encode(image, quality=20 + 10 * i))
            else:
                Image.fromarray(image).save(path.with_suffix(suffix))
    out = tmp_path / "pages"
    args = ["compare", str(folders["in"]), "-o", str(out), "--recursive", "--quiet"]
    assert main([*args, "--original", str(folders["orig"]), "--restored", str(folders["restored"])]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "a.html",
        "b.html",
        "index.html",
        "sub",
        "sub/c.html",
    ]
    index = (out / "index.html").read_text()
    assert re.findall(r'<a href="([^"]+)"', index) == ["a.html", "b.html", "sub/c.html"]
    rows = [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(<td>.*?)</tr>", index)]
    assert [row[3] for row in rows] == ["20", "30", "40"]  # the quality of each JPEG
    assert [row[5] for row in rows] == ["inf"] * 3  # these "restorations" are the originals
    assert 'href="../index.html"' in (out / "sub" / "c.html").read_text()
    assert "compared 3 image(s), 0 failed" in capsys.readouterr().out


def test_a_bad_file_is_reported_and_the_others_compared(tmp_path, natural_image, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.jpg").write_bytes(encode(natural_image(*SIZE), quality=20))
    (folder / "bad.jpg").write_bytes(b"\xff\xd8\xff not a JPEG after all")
    restored = tmp_path / "restored"
    restored.mkdir()
    for name in ("good", "bad"):
        Image.fromarray(natural_image(*SIZE)).save(restored / f"{name}.png")
    assert main(["compare", str(folder), "-o", str(tmp_path / "out"), "--restored", str(restored), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"failed: {folder / 'bad.jpg'}: ")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.html", "index.html"]


@pytest.mark.parametrize(
    "problem, expected",
    [
        ("missing original", "--original: no image for"),
        ("original of another size", "is 32x24 pixels, the JPEG 64x48"),
        ("original file for a folder", "--original must be a folder"),
    ],
)
def test_refusals_are_one_line_and_write_nothing(photo, tmp_path, capsys, problem, expected):
    out = tmp_path / "out"
    if problem == "missing original":
        args = [str(photo["jpeg"].parent), "--original", str(tmp_path)]
    elif problem == "original of another size":
        Image.fromarray(np.zeros((24, 32, 3), np.uint8)).save(photo["original"])
        args = [str(photo["jpeg"]), "--original", str(photo["original"])]
        out = tmp_path / "out.html"
    else:
        args = [str(photo["jpeg"].parent), "--original", str(photo["original"])]
    code = main(["compare", *args, "-o", str(out), "--restored", str(photo["restored"]), "--quiet"])
    err = capsys.readouterr().err
    assert code in (1, 2) and expected in err and "Traceback" not in err
    assert not out.exists()


def test_help_describes_the_command(capsys):
    assert main(["compare", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "one image pixel per screen pixel at 100 %, the file's estimated JPEG quality" in help_text


def test_exif_orientation_turns_both_images(photo, tmp_path):
    with Image.open(photo["jpeg"]) as image:
        exif = image.getexif()
        exif[0x0112] = 6  # rotate 90 degrees clockwise to show
        image.save(tmp_path / "turned.jpg", quality=15, exif=exif)
    out = tmp_path / "turned.html"
    assert main(["compare", str(tmp_path / "turned.jpg"), "-o", str(out), "--restored", str(photo["restored"])]) == 0
    before, after = data_uri_images(out.read_text())
    np.testing.assert_array_equal(before, np.rot90(decode(tmp_path / "turned.jpg"), k=-1))
    np.testing.assert_array_equal(after, np.rot90(np.asarray(Image.open(photo["restored"])), k=-1))


# In the browser. ------------------------------------------------------------------------------------------------


def _page(tmp_path: Path, before: np.ndarray, after: np.ndarray) -> tuple[str, np.ndarray]:
    """A compare page of a JPEG of ``before`` (quality 95) and the restoration ``after``; its URL and the decoded
    JPEG."""
    (tmp_path / "x.jpg").write_bytes(encode(before, quality=95))
    Image.fromarray(after).save(tmp_path / "x.png")
    page = tmp_path / "x.html"
    assert main(["compare", str(tmp_path / "x.jpg"), "-o", str(page), "--restored", str(tmp_path / "x.png")]) == 0
    return page.as_uri(), decode(tmp_path / "x.jpg")


def _shown(driver, selector: str = ".dj-after img") -> tuple[np.ndarray, dict[str, float]]:
    """The screenshot's pixels where the image ``selector`` is drawn, and its box. A box at a fraction of a pixel
    (text above it of a fractional height) is drawn from the nearest pixel, as the browser snaps the view's
    corner to the pixel grid (halves rounded up)."""
    box = rect(driver, selector)
    left, top = math.floor(box["left"] + 0.5), math.floor(box["top"] + 0.5)
    return screenshot(driver)[top : top + round(box["height"]), left : left + round(box["width"])], box


@needs_browser
def test_browser_shows_pixels_exactly_at_100_and_as_squares_when_zoomed(tmp_path):
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8) for _ in range(2)]
    url, jpeg = _page(tmp_path, *noise)
    with chromium() as driver:
        driver.get(url)
        fit = driver.find_element("css selector", ".dj-zoom").text
        assert re.fullmatch(r"[1-9]\d*00 %", fit) and fit != "100 %"  # fit: a whole number of screen pixels each
        driver.find_element("css selector", '[data-action="actual"]').click()
        assert driver.find_element("css selector", ".dj-zoom").text == "100 %"
        split = driver.find_element("css selector", ".dj-split")
        split.send_keys("\ue011")  # Home: the split at the left edge, the restoration everywhere
        shown, box = _shown(driver)
        assert (box["width"], box["height"]) == (64, 48)
        np.testing.assert_array_equal(shown, noise[1])  # not one pixel resampled
        split.send_keys("\ue010")  # End: the JPEG everywhere
        np.testing.assert_array_equal(_shown(driver, ".dj-before img")[0], jpeg)
        driver.find_element("css selector", '[data-action="in"]').click()
        assert driver.find_element("css selector", ".dj-zoom").text == "200 %"
        shown, box = _shown(driver, ".dj-before img")
        assert (box["width"], box["height"]) == (128, 96)
        np.testing.assert_array_equal(shown, jpeg.repeat(2, axis=0).repeat(2, axis=1))  # sharp 2x2 squares
        assert console_errors(driver) == []


def _split_column(driver) -> int:
    """Where the restoration (grey 220) starts, in page pixels, along a row of the view above the bar's handle.
    The bar is a white line 2 pixels wide with a 2-pixel shadow, centred on the split: the restoration's first
    clean pixel is at most 3 pixels from the split."""
    viewer = rect(driver, ".dj-viewer")
    image = rect(driver, ".dj-before img")
    top = max(image["top"], viewer["top"])
    row = screenshot(driver)[round(top + (viewer["top"] + viewer["height"] / 2 - top) / 2)]
    left = round(max(image["left"], viewer["left"]))
    right = round(min(image["left"] + image["width"], viewer["left"] + viewer["width"]))
    restored = np.flatnonzero(np.all(np.abs(row[left:right].astype(int) - 220) <= 2, axis=1))
    return left + int(restored[0]) if len(restored) else right


@needs_browser
def test_browser_slider_follows_keys_and_drags_and_the_image_pans(tmp_path):
    from selenium.webdriver import ActionChains

    dark, bright = np.full((*SIZE, 3), 30, np.uint8), np.full((*SIZE, 3), 220, np.uint8)
    url, _ = _page(tmp_path, dark, bright)
    with chromium() as driver:
        driver.get(url)
        viewer = rect(driver, ".dj-viewer")
        middle = viewer["left"] + round(viewer["width"] / 2)
        assert abs(_split_column(driver) - middle) <= 3  # starts at half the view's width
        split = driver.find_element("css selector", ".dj-split")
        split.send_keys(*["\ue012"] * 10)  # ArrowLeft x 10: 1 % of the view's width each
        assert split.get_attribute("aria-valuenow") == "40"
        assert abs(_split_column(driver) - (viewer["left"] + round(viewer["width"] * 0.4))) <= 3
        ActionChains(driver).click_and_hold(split).move_by_offset(150, 0).release().perform()
        dragged = _split_column(driver)
        assert abs(dragged - (viewer["left"] + round(viewer["width"] * 0.4) + 150)) <= 3
        # Zoom to 1600 %: the image (1024 x 768) overflows the view, and dragging it pans it.
        image = driver.find_element("css selector", ".dj-viewer")
        for _ in range(2):
            image.send_keys("+")
        assert driver.find_element("css selector", ".dj-zoom").text == "1600 %"
        start = rect(driver, ".dj-before img")
        ActionChains(driver).move_to_element_with_offset(image, -200, 100).click_and_hold().move_by_offset(
            -25, -40
        ).release().perform()
        moved = rect(driver, ".dj-before img")
        assert (moved["left"] - start["left"], moved["top"] - start["top"]) == (-25, -40)
        assert _split_column(driver) == dragged  # the split stays where it was put
        assert console_errors(driver) == []

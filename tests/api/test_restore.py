import numpy as np
import pytest
import torch

import dejpeg
from dejpeg.api import OVERLAP, _run_tiled, load_model, restore, restore_array
from dejpeg.codec import encode, read_qtables
from dejpeg.evaluation import evaluate
from dejpeg.jpeg import ijg_qtables
from dejpeg.metrics import image_metrics
from dejpeg.models import JpegSide


def test_restore_file_bytes_and_array_agree(natural_image, tmp_path):
    image = natural_image(48, 72)
    data = encode(image, quality=15)
    path = tmp_path / "x.jpg"
    path.write_bytes(data)
    from_path = restore(path)
    assert from_path.shape == image.shape and from_path.dtype == np.uint8
    np.testing.assert_array_equal(from_path, restore(data))
    # A decoded array has no coefficients, so it matches a file restored without the consistency step.
    unprojected = restore(path, consistency=False)
    for other in (
        restore(dejpeg.codec.decode(data), qtables=read_qtables(data)),
        restore(dejpeg.codec.decode(data), quality=15),
    ):
        np.testing.assert_array_equal(unprojected, other)
    assert not np.array_equal(unprojected, from_path)


def test_gray_in_gray_out(natural_image):
    gray = natural_image(40, 56, channels=1)
    restored = restore(encode(gray, quality=20))
    assert restored.shape == gray.shape and restored.dtype == np.uint8


def test_array_without_tables_is_an_error(natural_image):
    with pytest.raises(ValueError, match="quantization tables"):
        restore(natural_image(16, 16))
    with pytest.raises(ValueError, match="read from the file"):
        restore(encode(natural_image(16, 16), quality=50), quality=50)


def test_restoration_improves_a_low_quality_jpeg(natural_image):
    image = natural_image(96, 128, seed=5)
    data = encode(image, quality=10)
    before = image_metrics(dejpeg.codec.decode(data), image)["psnr"]
    after = image_metrics(restore(data), image)["psnr"]
    assert after > before + 0.3


def test_bf16_restoration_matches_fp32(natural_image):
    # "auto" may pick bf16 (CPUs with native bf16); asking for it explicitly tests it on every machine.
    image = natural_image(96, 128, seed=6)
    data = encode(image, quality=10)
    exact = restore(data, precision="fp32").astype(np.float64)
    fast = restore(data, precision="bf16").astype(np.float64)
    assert np.abs(fast - exact).mean() < 0.2  # grey levels
    assert (
        abs(image_metrics(fast.astype(np.uint8), image)["psnr"] - image_metrics(exact.astype(np.uint8), image)["psnr"])
        < 0.02
    )
    with pytest.raises(ValueError, match="precision"):
        restore(data, precision="half")


def test_tiling_matches_whole_image_processing():
    # Receptive radius: luma then chroma, 8 convs at 1/8 resolution + 7 px within a block = 71 px < 80.
    torch.manual_seed(0)
    model = dejpeg.models.create_model(
        "dejpeg_net", pretrained=False, luma_width=8, luma_blocks=1, chroma_width=8, chroma_blocks=1
    ).eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.05)
    image = torch.rand(1, 3, 200, 264)
    tables = JpegSide(torch.from_numpy(ijg_qtables(20)).float()[None])
    with torch.no_grad():
        whole = model(image, tables)
        tiled = _run_tiled(model, image, tables, tile=64, overlap=80, precision="fp32")
    torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=0)


def test_default_overlap_is_seamless_for_the_default_model(natural_image):
    # The default model's receptive radius (144 px) exceeds OVERLAP, so seams are possible in principle; this
    # checks that what it actually uses fits. Measured on this image: 16 px of overlap leaves pixels 5 grey levels
    # off and 32 px leaves 2 (10 % of pixels), so the check can fail.
    image = natural_image(200, 264)
    data = encode(image, quality=10)
    damaged = dejpeg.codec.decode(data)
    whole = restore_array(damaged, read_qtables(data), precision="fp32")
    tiled = restore_array(damaged, read_qtables(data), tile=64, overlap=OVERLAP, precision="fp32")
    difference = np.abs(whole.astype(int) - tiled.astype(int))
    assert difference.max() <= 1
    assert (difference > 0).mean() < 0.01


def test_tiled_consistency_matches_whole_image_consistency(natural_image):
    image = natural_image(200, 264)
    data = encode(image, quality=20)
    coefficients = dejpeg.codec.read_coefficients(data)
    damaged = dejpeg.codec.decode(data)
    whole = restore_array(damaged, read_qtables(data), coefficients=coefficients, precision="fp32")
    tiled = restore_array(damaged, read_qtables(data), tile=64, overlap=80, coefficients=coefficients, precision="fp32")
    # Identical up to float rounding, which may flip a handful of 8-bit values by one.
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1
    assert (whole != tiled).mean() < 1e-3


def test_sizes_not_multiple_of_8_keep_their_shape(natural_image):
    image = natural_image(37, 53)
    out = restore_array(dejpeg.codec.decode(encode(image, quality=30)), ijg_qtables(30))
    assert out.shape == (37, 53, 3)


def test_evaluate_reports_gains_per_quality(image_folder):
    result = evaluate(image_folder, qualities=[10, 50], gray=True, max_images=3, progress=False)
    assert result["images"] == 3 and [r["quality"] for r in result["rows"]] == [10, 50]
    row = result["rows"][0]
    assert row["psnr_gain"] == pytest.approx(row["psnr"] - row["jpeg_psnr"])
    assert row["jpeg_psnr"] < result["rows"][1]["jpeg_psnr"]
    assert row["megapixels_per_s"] > 0


def test_load_model_default_is_eval_mode():
    assert not load_model().training


def test_evaluate_restores_the_training_mode_of_a_module(image_folder):
    model = dejpeg.models.create_model(
        "dejpeg_net", pretrained=False, luma_width=8, luma_blocks=1, chroma_width=8, chroma_blocks=1
    )
    model.train()
    evaluate(image_folder, model=model, qualities=[30], max_images=1, progress=False)
    assert model.training
    model.eval()
    evaluate(image_folder, model=model, qualities=[30], max_images=1, progress=False)
    assert not model.training


def test_registered_models_load_once_per_device(natural_image, monkeypatch):
    """Restoring photo after photo by name must not pay the ~1.5 s load each time."""
    created = []
    real_create = dejpeg.api.create_model
    monkeypatch.setattr(dejpeg.api, "create_model", lambda *a, **k: created.append(a) or real_create(*a, **k))
    dejpeg.api._load_registered.cache_clear()
    data = encode(natural_image(16, 24), quality=20)
    first, second = restore(data), restore(data)
    np.testing.assert_array_equal(first, second)
    assert len(created) == 1
    assert load_model(None, torch.device("cpu")) is load_model(None, "cpu")


def test_evaluate_defaults_to_colour_like_the_cli(image_folder):
    result = evaluate(image_folder, qualities=[50], max_images=1, progress=False)
    assert result["gray"] is False


def test_evaluate_warns_about_jpeg_references(tmp_path, natural_image):
    folder = tmp_path / "refs"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(encode(natural_image(32, 32), quality=90))
    with pytest.warns(UserWarning, match="1 of 1 reference images are JPEGs"):
        evaluate(folder, qualities=[50], progress=False)


def test_decode_returns_writable_arrays(natural_image):
    decoded = dejpeg.codec.decode(encode(natural_image(16, 16), quality=50))
    assert decoded.flags.writeable
    decoded[0, 0] = 0


def test_tiled_restore_shows_tile_progress_without_changing_pixels(natural_image, capsys):
    model = dejpeg.models.create_model(
        "dejpeg_net", pretrained=False, luma_width=8, luma_blocks=1, chroma_width=8, chroma_blocks=1
    )
    damaged = dejpeg.codec.decode(encode(natural_image(96, 96), quality=30))
    quiet = restore_array(damaged, ijg_qtables(30), model, tile=32, overlap=8)
    assert "tiles" not in capsys.readouterr().err
    shown = restore_array(damaged, ijg_qtables(30), model, tile=32, overlap=8, progress=True)
    err = capsys.readouterr().err
    assert "tiles:" in err and "| 0/9 [" in err  # drawn at once, then redrawn at most 10 times a second
    np.testing.assert_array_equal(quiet, shown)


def test_a_checkpoint_file_is_loaded_once_per_version_and_device(tmp_path, monkeypatch):
    import os

    from dejpeg import api

    loads = []
    monkeypatch.setattr(api, "load_checkpoint", lambda path: loads.append(path) or torch.nn.Identity())
    api._load_checkpoint_version.cache_clear()
    checkpoint = tmp_path / "net.pth"
    checkpoint.write_bytes(b"one")
    first = api.load_model(checkpoint)
    assert api.load_model(str(checkpoint)) is first and len(loads) == 1
    checkpoint.write_bytes(b"other")  # a new version of the file: loaded again
    os.utime(checkpoint, ns=(1, 1))
    assert api.load_model(checkpoint) is not first and len(loads) == 2
    api._load_checkpoint_version.cache_clear()

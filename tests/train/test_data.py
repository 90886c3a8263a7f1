import numpy as np
import pytest
import torch

from dejpeg.jpeg import ijg_qtables
from dejpeg.train.data import JpegPatchStream, PatchConfig, foreign_qtables, patch_loader


def _stream(folder, **kw) -> JpegPatchStream:
    cfg = PatchConfig(folder=str(folder), patch_size=32, batch_size=4, **kw)
    return JpegPatchStream(cfg, seed=1)


def test_batches_have_expected_shapes_and_tables(image_folder):
    stream = _stream(image_folder, quality=20, gray_prob=0.5)
    for index in range(6):
        batch = stream.make_batch(index)
        c = batch["input"].shape[1]
        assert c in (1, 3)
        assert batch["input"].shape == batch["target"].shape == (4, c, 32, 32)
        assert batch["input"].dtype == torch.float32 and 0 <= batch["input"].min() <= batch["input"].max() <= 1
        expected = torch.from_numpy(ijg_qtables(20)).float()
        if c == 1:
            expected = torch.stack([expected[0], expected[0]])
        torch.testing.assert_close(batch["qtables"], expected.expand(4, 2, 8, 8))
        # JPEG damage is real but bounded at quality 20.
        err = (batch["input"] - batch["target"]).abs().mean()
        assert 0.002 < err < 0.1


def test_batches_are_a_function_of_the_index_only(image_folder):
    a, b = _stream(image_folder, quality=(5, 95)), _stream(image_folder, quality=(5, 95))
    for key in ("input", "target", "qtables"):
        torch.testing.assert_close(a.make_batch(7)[key], b.make_batch(7)[key])
    assert not torch.equal(a.make_batch(7)["target"], a.make_batch(8)["target"])


def test_workers_yield_batches_in_index_order(image_folder):
    stream = _stream(image_folder, quality=(5, 95))
    stream.start_batch = 3
    loader = iter(patch_loader(stream, workers=2))
    for index in range(3, 7):
        torch.testing.assert_close(next(loader)["target"], stream.make_batch(index)["target"])


def test_quality_power_favours_low_qualities(image_folder):
    stream = _stream(image_folder, quality=(5, 95), quality_power=2.0)
    rng = np.random.default_rng(0)
    qualities = np.array([stream._quality(rng) for _ in range(2000)])
    assert qualities.min() >= 5 and qualities.max() <= 95
    assert 20 < np.median(qualities) < 35  # 5 + 90 * 0.5**2 = 27.5


def test_double_compression_keeps_patch_size(image_folder):
    stream = _stream(image_folder, quality=(20, 60), double_prob=1.0, gray_prob=0.0)
    batch = stream.make_batch(0)
    assert batch["input"].shape == (4, 3, 32, 32)


def test_bad_patch_size_and_small_images_are_rejected(image_folder):
    with pytest.raises(ValueError, match="multiple of 16"):
        JpegPatchStream(PatchConfig(folder=str(image_folder), patch_size=40))
    with pytest.raises(ValueError, match="smaller than patch_size"):
        JpegPatchStream(PatchConfig(folder=str(image_folder), patch_size=128))


def test_foreign_tables_differ_from_ijg_but_stay_near_its_quality():
    rng = np.random.default_rng(0)
    ijg = ijg_qtables(30).astype(np.float64)
    tables = [foreign_qtables(30, rng) for _ in range(50)]
    for t in tables:
        assert t.shape == (2, 8, 8) and t.min() >= 1 and t.max() <= 255
    ratios = np.log(np.stack(tables) / ijg)
    assert (np.abs(ratios).mean(axis=(1, 2, 3)) > 0.05).all()  # every draw departs from IJG
    assert abs(ratios.mean()) < 0.1  # ... without drifting to another quality on average


def test_foreign_table_batches_carry_their_own_tables(image_folder):
    stream = _stream(image_folder, quality=40, gray_prob=0.0, foreign_tables_prob=1.0)
    batch = stream.make_batch(0)
    ijg = torch.from_numpy(ijg_qtables(40)).float()
    assert not any(torch.equal(t, ijg) for t in batch["qtables"])
    assert not torch.equal(batch["qtables"][0], batch["qtables"][1])


def test_max_images_keeps_the_first_images_in_name_order(image_folder):
    whole, first_two = _stream(image_folder, quality=20), _stream(image_folder, quality=20, max_images=2)
    assert len(whole.images) == 6 and len(first_two.images) == 2
    for kept, original in zip(first_two.images, whole.images[:2], strict=True):
        np.testing.assert_array_equal(kept, original)
    with pytest.raises(ValueError, match="max_images"):
        PatchConfig(folder=str(image_folder), max_images=0)

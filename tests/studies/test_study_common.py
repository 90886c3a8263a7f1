import json
from dataclasses import dataclass

import numpy as np
import pytest

from dejpeg.codec import decode, encode
from dejpeg.config_files import dataclass_from_dict
from dejpeg.metrics import image_metrics
from dejpeg.studies import add_noise
from dejpeg.studies.common import (
    CellStore,
    ClassifierConfig,
    DataConfig,
    TrainRecipe,
    compress_set,
    mean_finite,
    psnr_u8,
    source_note,
    to_jsonable,
    write_csv,
)


def test_compress_set_at_a_quality_matches_the_codec(natural_image):
    images = np.stack([natural_image(32, 32, seed=i) for i in range(3)])
    result = compress_set(images, quality=20)
    for image, decoded, size in zip(images, result.images, result.file_bytes):
        data = encode(image, quality=20)
        assert np.array_equal(decoded, decode(data)) and size == len(data)
    assert result.qualities.tolist() == [20] * 3 and result.on_target.all()
    assert result.qtables.shape == (3, 2, 8, 8)
    with pytest.raises(ValueError, match="exactly one"):
        compress_set(images)


def test_compress_set_to_a_ratio(natural_image):
    images = np.stack([natural_image(64, 64, seed=i) for i in range(2)])
    result = compress_set(images, ratio=0.15)
    assert np.allclose(result.file_bytes / images[0].size, 0.15, rtol=0.05)
    unreachable = compress_set(images[:1, :16, :16], ratio=0.05)  # below the JPEG headers' size
    assert not unreachable.on_target[0] and unreachable.qualities[0] == 1


def test_psnr_u8_is_the_metrics_psnr(natural_image):
    reference = np.stack([natural_image(24, 24, seed=i) for i in range(2)])
    damaged = compress_set(reference, quality=10).images
    expected = [image_metrics(d, r)["psnr"] for d, r in zip(damaged, reference)]
    assert psnr_u8(damaged, reference) == pytest.approx(expected)
    assert psnr_u8(reference, reference).tolist() == [np.inf, np.inf]
    assert mean_finite([np.inf, None]) is None and mean_finite([1.0, 3.0, np.inf]) == 2.0


@dataclass(frozen=True)
class _Cfg:
    data: DataConfig
    classifier: ClassifierConfig
    train: TrainRecipe | None = None


def test_dataclass_from_dict_nests_and_rejects_unknown_keys():
    cfg = dataclass_from_dict(_Cfg, {"data": {"root": "r"}, "classifier": "cifar_resnet20", "train": {"lr": "5e-4"}})
    assert cfg.classifier == ClassifierConfig("cifar_resnet20") and cfg.train.lr == 5e-4
    with pytest.raises(ValueError, match="unknown keys \\['typo'\\]"):
        dataclass_from_dict(_Cfg, {"data": {"root": "r", "typo": 1}, "classifier": "x"})
    with pytest.raises(ValueError, match="root"):
        dataclass_from_dict(_Cfg, {"data": {}, "classifier": "x"})
    with pytest.raises(ValueError, match="expected a number"):
        dataclass_from_dict(_Cfg, {"data": {"root": "r"}, "classifier": "x", "train": {"lr": "fast"}})


def test_cell_keys_follow_every_setting_and_cells_are_json(tmp_path):
    store = CellStore(tmp_path)
    a = CellStore.key("q5", {"data": DataConfig("r"), "quality": 5})
    assert a == CellStore.key("q5", {"quality": 5, "data": DataConfig("r")})
    assert a != CellStore.key("q5", {"data": DataConfig("r", seed=1), "quality": 5})
    assert store.get(a) is None
    store.put(a, {"psnr": [1.5, float("inf")], "n": np.int64(3)})
    assert store.get(a) == {"psnr": [1.5, None], "n": 3}  # JSON has no inf
    json.loads(store.path(a).read_text())


def test_write_csv_takes_the_union_of_columns(tmp_path):
    write_csv([{"a": 1, "b": 0.5}, {"a": 2, "c": "x"}], tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text() == "a,b,c\n1,0.5,\n2,,x\n"
    assert to_jsonable({"x": (np.float32(0.5), float("nan"))}) == {"x": [0.5, None]}


def test_source_note_names_the_quality_of_jpeg_originals(tmp_path, natural_image):
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "a.jpg").write_bytes(encode(natural_image(16, 16), quality=75))
    assert "IJG quality 75" in source_note(str(tmp_path), "test", ["a.jpg"])
    assert "lossless" in source_note(str(tmp_path), "test", ["a.png"])


def test_multiplicative_noise():
    images = np.full((4, 16, 16, 3), 100, np.uint8)
    noisy = add_noise(images, 0.1, seed=0)
    relative = (noisy.astype(float) - 100) / 100
    assert abs(relative.mean()) < 0.01 and relative.std() == pytest.approx(0.1, rel=0.1)
    assert np.array_equal(noisy, add_noise(images, 0.1, seed=0))
    assert np.array_equal(add_noise(np.zeros_like(images), 1.0, seed=0), np.zeros_like(images))  # x * n: none on black

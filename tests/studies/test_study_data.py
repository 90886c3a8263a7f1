import numpy as np
import pytest
from PIL import Image
from synthetic_data import CLASSES, write_dataset

from dejpeg.studies import load_split


def test_labelled_split(tmp_path):
    root = write_dataset(tmp_path, {"test": 4})
    split = load_split(root, "test")
    assert split.classes == list(CLASSES) and split.labelled
    assert split.images.shape == (12, 32, 32, 3) and split.images.dtype == np.uint8
    assert split.labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert split.names[0] == "disc/disc_000.png" and (split.file_bytes > 0).all()


def test_label_free_split(tmp_path):
    root = write_dataset(tmp_path, {"test": 2}, labelled=False)
    split = load_split(root, "test")
    assert split.labels is None and split.classes == [] and len(split) == 6


def test_subsampling_is_balanced_and_reproducible(tmp_path):
    root = write_dataset(tmp_path, {"train": 10})
    a = load_split(root, "train", max_per_class=3, seed=1)
    b = load_split(root, "train", max_per_class=3, seed=1)
    c = load_split(root, "train", max_per_class=3, seed=2)
    assert np.bincount(a.labels).tolist() == [3, 3, 3]
    assert a.names == b.names and a.names != c.names
    assert a.names == sorted(a.names)  # file order kept


def test_layout_and_size_errors(tmp_path):
    root = write_dataset(tmp_path, {"test": 2})
    with pytest.raises(FileNotFoundError, match="not found"):
        load_split(root, "val")
    Image.fromarray(np.zeros((40, 30, 3), np.uint8)).save(root / "test" / "disc" / "odd.png")
    with pytest.raises(ValueError, match="differ in size"):
        load_split(root, "test")
    resized = load_split(root, "test", size=16)
    assert resized.images.shape == (7, 16, 16, 3)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "test" / "loose.png")
    with pytest.raises(ValueError, match="one layout"):
        load_split(root, "test")

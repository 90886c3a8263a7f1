import hashlib
import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from blockcnn_helpers import tiny_predictor
from safetensors.torch import save_file

from dejpeg.blockcodec import decode_image, encode_image, weights_sha256
from dejpeg.cli.__main__ import main
from dejpeg.codec.blockcnn import unpack
from dejpeg.codec.images import load_rgb_u8, save_image
from dejpeg.files import sha256_file
from dejpeg.layers.context import wavefront
from dejpeg.metrics import image_metrics
from dejpeg.models import Weights, create_model
from dejpeg.models import _registry as registry
from dejpeg.models._registry import ModelEntry

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(scope="module")
def predictor():
    return tiny_predictor()


@pytest.mark.parametrize("channels", [1, 3])
def test_decoding_repeats_the_encoders_reconstruction(predictor, natural_image, channels):
    image = natural_image(45, 61, channels)  # neither side a multiple of 8 or 16
    encoded = encode_image(image, 50, predictor)
    decoded = decode_image(encoded.data, predictor)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    assert np.array_equal(decoded, encoded.reconstruction)
    coded = unpack(encoded.data)
    assert coded.layout == ("gray" if channels == 1 else "ycbcr420") and (coded.height, coded.width) == (45, 61)
    expected = [(6, 8)] if channels == 1 else [(6, 8), (3, 4), (3, 4)]  # 4:2:0 chroma is 23 x 31
    assert [c.shape[:2] for c in coded.residuals.components] == expected


def test_higher_quality_costs_bits_and_gains_fidelity(predictor, natural_image):
    image = natural_image(64, 80, 3)
    results = [encode_image(image, quality, predictor) for quality in (10, 50, 90)]
    sizes = [len(r.data) for r in results]
    psnrs = [image_metrics(r.reconstruction, image)["psnr"] for r in results]
    assert sizes == sorted(sizes) and psnrs == sorted(psnrs)


def test_a_blocks_coding_depends_only_on_blocks_before_it(predictor, natural_image):
    """Changing the blocks of wavefront t onwards leaves every earlier block's residual as it was."""
    image = natural_image(48, 64, 1)
    steps = wavefront(6, 8)
    t = len(steps) // 2
    changed = image.copy()
    for i, j in np.concatenate([s.numpy() for s in steps[t:]]):
        changed[8 * i : 8 * i + 8, 8 * j : 8 * j + 8] = 255 - changed[8 * i : 8 * i + 8, 8 * j : 8 * j + 8]
    a, b = (unpack(encode_image(x, 30, predictor).data).residuals.components[0] for x in (image, changed))
    for step, positions in enumerate(steps):
        i, j = positions.numpy().T
        assert np.array_equal(a[i, j], b[i, j]) == (step < t), step


def test_damaged_or_foreign_files_are_refused(predictor, natural_image):
    data = encode_image(natural_image(32, 40, 3), 40, predictor).data
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    cases = {
        "truncated": data[:-7],
        "checksum": bytes(flipped),
        "wrong magic": b"XXXX" + data[4:],
        "version 9": data[:4] + bytes([9]) + data[5:],
    }
    for message, damaged in cases.items():
        with pytest.raises(ValueError, match=message):
            decode_image(damaged, predictor)
    with pytest.raises(ValueError, match="do not match"):
        decode_image(data, tiny_predictor(seed=1))


DECODE = """
import hashlib, sys
from safetensors.torch import load_file
from dejpeg.blockcodec import decode_image
from dejpeg.models import create_model
net = create_model("blockcnn_predictor", pretrained=False, width=8, blocks=1)
net.load_state_dict(load_file(sys.argv[1]))
image = decode_image(open(sys.argv[2], "rb").read(), net.eval())
print(hashlib.sha256(image.tobytes()).hexdigest())
"""


@pytest.mark.slow
def test_fresh_processes_decode_bit_identically(predictor, natural_image, tmp_path):
    """Other processes, thread counts and a lower instruction set (oneDNN and ATen held to AVX2) decode to the
    encoder's reconstruction, byte for byte."""
    save_file(predictor.state_dict(), tmp_path / "tiny.safetensors")
    encoded = encode_image(natural_image(96, 128, 3), 20, predictor)
    (tmp_path / "image.djbc").write_bytes(encoded.data)
    expected = hashlib.sha256(encoded.reconstruction.tobytes()).hexdigest()
    settings = [{"OMP_NUM_THREADS": "1"}, {"OMP_NUM_THREADS": "2"},
                {"OMP_NUM_THREADS": "2", "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}]  # fmt: skip
    for extra in settings:
        env = {**os.environ, "PYTHONPATH": str(SRC), **extra}
        args = [sys.executable, "-c", DECODE, str(tmp_path / "tiny.safetensors"), str(tmp_path / "image.djbc")]
        out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, check=True)
        assert out.stdout.strip() == expected, extra


@pytest.fixture
def registered_predictor(predictor, tmp_path, monkeypatch):
    """The tiny predictor as registry weights ``blockcnn_predictor.tiny``."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    path = tmp_path / "tiny.safetensors"
    save_file(predictor.state_dict(), path)
    weights = Weights(path, sha256_file(path), "random", "tests")
    factory = registry._REGISTRY["blockcnn_predictor"].factory
    entry = ModelEntry("blockcnn_predictor.tiny", factory, {"width": 8, "blocks": 1}, weights)
    monkeypatch.setitem(registry._REGISTRY, entry.name, entry)
    return "blockcnn_predictor.tiny"


def test_cli_encodes_and_decodes(registered_predictor, predictor, natural_image, tmp_path, capsys):
    image = natural_image(40, 56, 3)
    save_image(image, tmp_path / "in.png")
    code = main(["codec", "encode", str(tmp_path / "in.png"), "-o", str(tmp_path / "a.djbc"), "--quality", "30",
                 "--model", registered_predictor, "--quiet"])  # fmt: skip
    assert code == 0 and "bits per pixel" in capsys.readouterr().err
    assert weights_sha256(predictor) == unpack((tmp_path / "a.djbc").read_bytes()).model_sha256
    assert main(["codec", "decode", str(tmp_path / "a.djbc"), "-o", str(tmp_path / "out.png"), "--quiet"]) == 0
    expected = encode_image(image, 30, predictor).reconstruction
    assert np.array_equal(load_rgb_u8(tmp_path / "out.png"), expected)

    data = (tmp_path / "a.djbc").read_bytes()
    (tmp_path / "cut.djbc").write_bytes(data[: len(data) // 2])
    code = main(["codec", "decode", str(tmp_path / "cut.djbc"), "-o", str(tmp_path / "cut.png"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "truncated" in err
    assert not (tmp_path / "cut.png").exists()


def test_cli_refuses_weights_that_changed(registered_predictor, natural_image, tmp_path, capsys):
    save_image(natural_image(24, 24, 1), tmp_path / "in.png")
    args = ["codec", "encode", str(tmp_path / "in.png"), "-o", str(tmp_path / "a.djbc"), "--quality", "50", "--gray",
            "--model", registered_predictor, "--quiet"]  # fmt: skip
    assert main(args) == 0
    data = bytearray((tmp_path / "a.djbc").read_bytes())
    name_end = 16 + len(registered_predictor)
    data[name_end] ^= 0xFF  # the first byte of the recorded weights hash, with a checksum that agrees
    data[-4:] = zlib.crc32(bytes(data[:-4])).to_bytes(4, "big")
    (tmp_path / "b.djbc").write_bytes(bytes(data))
    assert main(["codec", "decode", str(tmp_path / "b.djbc"), "-o", str(tmp_path / "b.png"), "--quiet"]) == 2
    assert "do not match" in capsys.readouterr().err and not (tmp_path / "b.png").exists()


def test_postfilter_restores_the_decoded_image(predictor, natural_image):
    """A post-filter gets the decoded image with the file's tables; a gray-only model restores the luma."""
    torch.manual_seed(0)
    restorer = create_model("blockcnn", pretrained=False, width=8, blocks=1).eval()
    torch.nn.init.normal_(restorer.body.head.weight, std=0.01)
    encoded = encode_image(natural_image(32, 48, 3), 20, predictor)
    filtered = decode_image(encoded.data, predictor, postfilter=restorer)
    assert filtered.shape == encoded.reconstruction.shape
    difference = np.abs(filtered.astype(int) - encoded.reconstruction)
    assert 0 < difference.mean() < 5

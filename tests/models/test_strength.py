"""``--strength``: from keeping texture and grain (0) to removing every artifact (1). The default model and per-quality
families are told tables steered finer or coarser than the file's; the consistency step keeps the file's own; no
strength is each model's best-PSNR setting, today's output unchanged; models without a control refuse one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dejpeg
from dejpeg import api
from dejpeg.cli.__main__ import main
from dejpeg.codec import decode, encode, read_coefficients, read_qtables
from dejpeg.jpeg import estimate_quality, ijg_qtables, luma_chroma_tables
from dejpeg.jpeg.consistency import project_to_coefficients
from dejpeg.models import (
    JpegSide,
    PerQualityModel,
    SteeredTables,
    create_model,
    default_model_name,
    parse_strength,
    steer_tables,
)


def test_presets_and_numbers():
    assert [parse_strength(v) for v in ("gentle", "balanced", "strong", "0", "0.3", 1)] == [0.25, 0.5, 0.75, 0, 0.3, 1]
    for bad in ("1.5", "-0.1", "nan", "max"):
        with pytest.raises(ValueError, match="strength"):
            parse_strength(bad)


def test_cli_refuses_a_bad_strength_before_any_work(tmp_path, capsys):
    jpeg = tmp_path / "a.jpg"
    jpeg.write_bytes(encode(np.full((16, 16), 128, np.uint8), quality=50))
    assert main(["restore", str(jpeg), "-o", str(tmp_path / "a.png"), "--strength", "2"]) == 2
    assert "strength must be from 0 to 1, got 2" in capsys.readouterr().err
    assert not (tmp_path / "a.png").exists()


def test_steered_tables_scale_the_quality():
    """At 0.5 the file's tables exactly; at 0 and 1 a quarter and four times the steps, rounded and kept in 1..255,
    which for IJG tables is the quality whose scale factor is a quarter or four times the file's."""
    tables = torch.from_numpy(luma_chroma_tables(ijg_qtables(20))).float()[None]
    assert torch.equal(steer_tables(tables, 0.5), tables)
    assert torch.equal(steer_tables(tables, 0.0), (tables / 4).round().clamp(min=1))
    assert torch.equal(steer_tables(tables, 1.0), (tables * 4).round().clamp(max=255))
    qualities = [estimate_quality(steer_tables(tables, s)[0].numpy()).quality for s in (0, 0.25, 0.5, 0.75, 1)]
    assert qualities == sorted(qualities, reverse=True) and qualities[2] == 20
    assert qualities[0] == pytest.approx(69, abs=1) and qualities[-1] == pytest.approx(5, abs=1)  # scale 62.5, 1000


@pytest.mark.pretrained
def test_default_output_is_unchanged(natural_image):
    """No strength: the default model told the file's own tables, then projected into its intervals, as before the
    control existed; 0.5 steers by the file's own tables, so it is the same output to the bit."""
    data = encode(natural_image(48, 64), quality=20)
    default = dejpeg.restore(data, precision="fp32")
    net = create_model(default_model_name(), pretrained=True).eval()
    pixels = torch.from_numpy(decode(data)).permute(2, 0, 1)[None].float() / 255
    side = JpegSide(torch.from_numpy(luma_chroma_tables(read_qtables(data))).float()[None])
    with torch.inference_mode():
        direct = project_to_coefficients(net(pixels, side)[0], read_coefficients(data))
    expected = direct.clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(default, expected)
    np.testing.assert_array_equal(default, dejpeg.restore(data, precision="fp32", strength=0.5))


@pytest.mark.pretrained
@pytest.mark.parametrize("quality", [10, 40])
def test_stronger_moves_further_from_the_jpeg(natural_image, quality):
    """Gentle keeps closer to the decoded file (its texture and grain), strong changes it more."""
    data = encode(natural_image(48, 64), quality=quality)
    damaged = decode(data).astype(np.float64)
    change = [np.abs(dejpeg.restore(data, strength=s).astype(np.float64) - damaged).mean() for s in (0, 0.5, 1)]
    assert change[0] < change[1] < change[2]


def test_consistency_keeps_the_file_tables(natural_image, monkeypatch):
    """The model is told steered tables; the projection gets the file's coefficients and tables."""
    net = create_model("dejpeg_net", pretrained=False, luma_width=8, luma_blocks=1, chroma_width=8, chroma_blocks=1)
    seen = {}
    forward, projected = type(net).forward, api.project_to_coefficients

    def spy_forward(self, image, side):
        seen["model"] = side.qtables
        return forward(self, image, side)

    def spy_project(image, coefficients, top, left):
        seen["projection"] = coefficients.qtables
        return projected(image, coefficients, top, left)

    monkeypatch.setattr(type(net), "forward", spy_forward)
    monkeypatch.setattr(api, "project_to_coefficients", spy_project)
    data = encode(natural_image(32, 32), quality=20)
    dejpeg.restore(data, net, strength=1.0)
    file_tables = read_qtables(data)
    np.testing.assert_array_equal(seen["projection"][0], file_tables[0])
    assert torch.equal(seen["model"][0, 0], (torch.from_numpy(file_tables[0]).float() * 4).clamp(max=255))


def _member(shift: float) -> torch.nn.Module:
    """An ``l4`` whose output is its input plus ``shift`` and a small random correction."""
    model = create_model("l4", pretrained=False).eval()
    with torch.no_grad():
        model.convs[-1].bias.fill_(shift)
    return model


def test_per_quality_strength_picks_the_member():
    """For a quality-20 file: by default the member nearest 20 (Q10), gentle (0: the tables of about Q69) the Q40
    member, strong (1: about Q5) the Q10 member again."""
    members = {10: ("l4.q10", _member(0.1)), 40: ("l4.q40", _member(0.4))}
    family = PerQualityModel(members).eval()
    image = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    side = JpegSide(torch.from_numpy(luma_chroma_tables(ijg_qtables(20))).float()[None])
    with torch.inference_mode():
        expected = {q: model(image, side) for q, (_, model) in members.items()}
        assert torch.equal(family(image, side), expected[10])
        assert torch.equal(family.with_strength(0.0)(image, side), expected[40])
        assert torch.equal(family.with_strength(1.0)(image, side), expected[10])
    with pytest.raises(ValueError, match="l4.q10 is this family's one member"):
        PerQualityModel({10: members[10]}).with_strength(0.5)


def test_models_without_a_control_refuse(natural_image, tmp_path, capsys):
    with pytest.raises(ValueError, match="has no strength control"):
        api.load_model("spp", strength=0.3)
    jpeg = tmp_path / "a.jpg"
    jpeg.write_bytes(encode(natural_image(32, 32), quality=20))
    assert main(["restore", str(jpeg), "-o", str(tmp_path / "a.png"), "--model", "spp", "--strength", "gentle"]) == 2
    assert "has no strength control" in capsys.readouterr().err


def test_evaluate_records_the_strength(image_folder):
    net = create_model("dejpeg_net", pretrained=False, luma_width=8, luma_blocks=1, chroma_width=8, chroma_blocks=1)
    result = dejpeg.evaluate(image_folder, net, qualities=[20], max_images=1, progress=False, strength="gentle")
    assert result["strength"] == 0.25
    assert isinstance(api.load_model(net, strength="strong"), SteeredTables)

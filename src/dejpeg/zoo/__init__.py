"""Shipped pretrained weights (``weights/*.safetensors``): one compact record each, registered with the model
registry under ``arch.tag`` names. The zoo depends on :mod:`dejpeg.models`, never the reverse.

How each was made (data, recipe, steps, time) is its model card in ``docs/models.md``; the runs are in
``docs/notebook.md``. Scores are PSNR gains (dB) from the benchmark JSON named in each card.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dejpeg.models import Weights, register_weights, retire
from dejpeg.zoo.int8 import dequantize_state

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
CARDS = "docs/models.md"

BSDS_DATA = (
    "BSDS500 train+val (300 photos), random quality 1..100, half gray, half RGB (4:2:0/4:2:2/4:4:4), "
    "10% double JPEG with grid shift, 15% non-IJG tables"
)
BSDS_ORIGIN = "dejpeg (this project), trained on BSDS500 (non-commercial research and educational use)"
CIFAR_ORIGIN = "dejpeg (this project), trained on CIFAR-10"


def _bsds_scores(gray: tuple[float, ...], colour: tuple[float, ...], kodak95: tuple[float, float]) -> dict[str, float]:
    """BSDS500 test200 gains at Q10/20/30/40/90 (``benchmarks/results/car_bsds500_<name>.json``) and Kodak24 Q95
    gray/colour (``kodak24_sweep_*``)."""
    scores = {f"bsds500_gray_q{q}_psnr_gain": g for q, g in zip((10, 20, 30, 40, 90), gray)}
    scores |= {f"bsds500_color_q{q}_psnr_gain": g for q, g in zip((10, 20, 30, 40, 90), colour)}
    return scores | {"kodak24_gray_q95_psnr_gain": kodak95[0], "kodak24_color_q95_psnr_gain": kodak95[1]}


def _weights(name: str, sha256: str, data: str, origin: str, scores: dict[str, float], card: str) -> Weights:
    return Weights(
        path=WEIGHTS_DIR / f"{name}.safetensors",
        sha256=sha256,
        data=data,
        origin=origin,
        scores=scores,
        card=f"{CARDS}#{card}",
        load_filter=dequantize_state,  # int8- or float16-stored: back to float32
    )


register_weights(
    "dejpeg_net_dct_w192.blind_bsds300",
    _weights(
        "dejpeg_net_dct_w192.blind_bsds300",
        "e85cfec43109bc7b1afdc6ff5a47f170f83d1fd2966ee9eda1fc32ac44b78e0e",
        BSDS_DATA,
        BSDS_ORIGIN,
        _bsds_scores((1.27, 1.25, 1.26, 1.26, 0.32), (1.49, 1.33, 1.28, 1.23, 1.20), (0.21, 0.30)),
        "dejpeg_net_dct_w192blind_bsds300-the-default",
    ),
    use="photos, gray or colour, any JPEG quality",
    default=True,
)
register_weights(
    "dejpeg_net_dct_w160.blind_bsds300",
    _weights(
        "dejpeg_net_dct_w160.blind_bsds300",
        "1473783f6b9228f31f5b514ccd0e878bbd49b31f1953db7f74a05dadbcc10a45",
        BSDS_DATA,
        BSDS_ORIGIN,
        _bsds_scores((1.22, 1.19, 1.20, 1.20, 0.28), (1.44, 1.28, 1.22, 1.18, 1.12), (0.17, 0.28)),
        "dejpeg_net_dct_w160blind_bsds300",
    ),
    use="photos, gray or colour, any JPEG quality (faster, 0.04-0.08 dB below the default)",
)

_CIFAR_TARGETS = {
    "n2n": "an independent copy at the same quality on a shifted grid (Noise2Noise)",
    "supervised": "the image",
}


def _register_cifar10(quality: int, mode: str, sha256: str, gain: float) -> None:
    """The per-quality U-Nets of the restoration study (``studies/restoration_cifar10*``)."""
    name = f"unet.cifar10_q{quality}_{mode}"
    data = (
        f"CIFAR-10 train (50,000 images, the shared q75 copy) at JPEG q{quality} 4:2:0; target {_CIFAR_TARGETS[mode]}"
    )
    # PSNR gain on 16 CIFAR-10 test images (class cat) at its own quality, logged at the last step
    scores = {f"cifar10_cat16_q{quality}_psnr_gain": gain}
    card = "unetcifar10_q1_n2n-unetcifar10_q5_n2n-unetcifar10_q10_n2n" if mode == "n2n" else "unetcifar10_q1_supervised"
    register_weights(
        name,
        _weights(name, sha256, data, CIFAR_ORIGIN, scores, card),
        use=f"32x32 CIFAR-10 images at JPEG q{quality} (restoration study), not photos",
    )


_register_cifar10(1, "n2n", "c31baa3b6591de5fc568ccb6fbd3912c052b8dfc1f84886434d6a5d6ecebd86b", 0.70)
_register_cifar10(5, "n2n", "0fd7931eb1048b97f2a37b65d2500797b32523a19e864375ff83e0172a5ff7a8", 0.88)
_register_cifar10(10, "n2n", "1f8453735eafa53650e432a4a5c5d360b4173698d968362c92335834694dd105", 0.86)
_register_cifar10(1, "supervised", "8ce988c285f604e0ba03c9825fa56776700c276038d61247c3de737361acd6ff", 1.31)

SVOBODA_PATCHES = "BSDS500 train+val (300 photos), gray (BT.601 luma) 64x64 patches"
SVOBODA_DATA = f"{SVOBODA_PATCHES}, one JPEG quality (IJG tables)"
SVOBODA_CARD = "per-quality-families-l4-l8-svoboda-et-al-2016-and-arcnn-dong-et-al-2015"


def _register_member(
    arch: str,
    quality: int,
    sha256: str,
    scores: dict[str, float],
    use: str,
    data: str = SVOBODA_DATA,
    card: str = SVOBODA_CARD,
) -> None:
    """A per-quality member of ``l4``, ``l8``, ``arcnn`` or ``blockcnn``: ``create_model(arch)`` picks it for files
    nearest its quality (:class:`dejpeg.models.PerQualityModel`)."""
    name = f"{arch}.q{quality}_bsds300"
    weights = _weights(name, sha256, data, BSDS_ORIGIN, scores, card)
    register_weights(name, dataclasses.replace(weights, quality=quality), use=use)


# Gains of each member alone on the first 50 BSDS500 test200 images, gray, consistency step on: at Q10 and Q20, or at
# its own quality (`dejpeg evaluate ... --gray --max-images 50 --model runs/<run>`)
_register_member(
    "arcnn",
    10,
    "8a929ba876693512ecc337566b944aa592d10ccacd5bcfaea2ccef3963b25fda",
    {"bsds500_first50_gray_q10_psnr_gain": 0.37, "bsds500_first50_gray_q20_psnr_gain": 0.06},
    "gray or colour (luma) photos near JPEG quality 10 (Dong et al. 2015's ARCNN, a baseline)",
)
_register_member(
    "arcnn",
    20,
    "f92645f6880369b2015239c8d0838442e51d1257118a8cd38422a8de6e096006",
    {"bsds500_first50_gray_q10_psnr_gain": 0.36, "bsds500_first50_gray_q20_psnr_gain": 0.12},
    "gray or colour (luma) photos near JPEG quality 20 (Dong et al. 2015's ARCNN, a baseline)",
)
_register_member(
    "l4",
    10,
    "4a090239cd8868961884b3f2ab65cb0bf3433d9fbfdd740bc7fe376773a30452",
    {"bsds500_first50_gray_q10_psnr_gain": 1.03, "bsds500_first50_gray_q20_psnr_gain": 0.79},
    "gray or colour (luma) photos near JPEG quality 10 (Svoboda et al. 2016's L4)",
)
_register_member(
    "l4",
    20,
    "a137cf4250a7212caac1c2bd828908d02e2f8fe87efd65311ec87fe95d00ce94",
    {"bsds500_first50_gray_q10_psnr_gain": 0.90, "bsds500_first50_gray_q20_psnr_gain": 1.04},
    "gray or colour (luma) photos near JPEG quality 20 (Svoboda et al. 2016's L4)",
)
_register_member(
    "l4",
    30,
    "86b38155163cd913a7d65ae3558b79f75d706d8187fa30d320cdfb882f251b37",
    {"bsds500_first50_gray_q30_psnr_gain": 1.07},
    "gray or colour (luma) photos near JPEG quality 30 (Svoboda et al. 2016's L4)",
)
_register_member(
    "l4",
    40,
    "94c48a934bf48b1a54ea8ded4db2ca8ed387c112066f459680ac938d08a6e15b",
    {"bsds500_first50_gray_q40_psnr_gain": 1.07},
    "gray or colour (luma) photos near JPEG quality 40 (Svoboda et al. 2016's L4)",
)
_register_member(
    "l4",
    50,
    "f23fe83c971021c435faf7e2aa5425c0cdc4c2691a8eb7d5deb6270a3b2c70f0",
    {"bsds500_first50_gray_q50_psnr_gain": 1.14},
    "gray or colour (luma) photos near JPEG quality 50 (Svoboda et al. 2016's L4)",
)
_register_member(
    "l4",
    60,
    "f5cebcf8c71b45c6f38f266adbc36e1aea837a981d25f431eb71480f3ae60047",
    {"bsds500_first50_gray_q60_psnr_gain": 1.14},
    "gray or colour (luma) photos near JPEG quality 60 (Svoboda et al. 2016's L4)",
)
# One L4 trained on qualities 10-60 together (Svoboda et al.'s Figure 5): not a member, as it has no one quality.
register_weights(
    "l4.q10_60_bsds300",
    _weights(
        "l4.q10_60_bsds300",
        "e76474d11aa779db7d5df269a017d21a625944cd296b2c3cc44e7228d7bc3d08",
        f"{SVOBODA_PATCHES}, JPEG qualities 10-60 (IJG tables)",
        BSDS_ORIGIN,
        {
            f"bsds500_first50_gray_q{q}_psnr_gain": g
            for q, g in zip(range(10, 70, 10), (0.74, 0.97, 1.06, 1.06, 1.06, 0.97))
        },
        SVOBODA_CARD,
    ),
    use="gray or colour (luma) photos at JPEG quality 10-60, one model for all (Svoboda et al. 2016's L4)",
)
_register_member(
    "l8",
    10,
    "a374ca7003b9e1047cf5b2e95d6f5e638c7ed58626284f1fe50ac77dda335576",
    {"bsds500_first50_gray_q10_psnr_gain": 0.93, "bsds500_first50_gray_q20_psnr_gain": 0.67},
    "gray or colour (luma) photos near JPEG quality 10 (Svoboda et al. 2016's L8)",
)

_register_member(
    "l8",
    20,
    "0b0e64b95eec00a4fde5916e11b0c1f1b5c4c52189ee3249e51a50604ab58abd",
    {"bsds500_first50_gray_q10_psnr_gain": 0.79, "bsds500_first50_gray_q20_psnr_gain": 0.91},
    "gray or colour (luma) photos near JPEG quality 20 (Svoboda et al. 2016's L8)",
)

# BlockCNN's members alone at their own quality, first 50 BSDS500 test200 images, gray, consistency step on, fp32
# (`python benchmarks/svoboda2016.py table --add --models blockcnn --max-images 50`)
BLOCKCNN_DATA = "BSDS500 train+val (300 photos), gray (BT.601 luma) 32x32 patches, one JPEG quality (IJG tables)"
BLOCKCNN_CARD = "per-quality-family-blockcnn-maleki-et-al-2018"
_register_member(
    "blockcnn",
    10,
    "7d25a30a8d6c060f7cd716b294de88d9b1a4e9c364c75b58d41f69bd57c00a91",
    {"bsds500_first50_gray_q10_psnr_gain": 0.80},
    "gray or colour (luma) photos near JPEG quality 10 (Maleki et al. 2018's BlockCNN)",
    BLOCKCNN_DATA,
    BLOCKCNN_CARD,
)
_register_member(
    "blockcnn",
    20,
    "3d7524443b069987a26948a6c728dc169dfabdc5d7e945b5c992677b7f852653",
    {"bsds500_first50_gray_q20_psnr_gain": 1.05},
    "gray or colour (luma) photos near JPEG quality 20 (Maleki et al. 2018's BlockCNN)",
    BLOCKCNN_DATA,
    BLOCKCNN_CARD,
)

# The BlockCNN codec's predictor (dejpeg codec encode/decode): not a restorer, so no restoration scores; what it
# does for the codec is its rate-distortion curve (docs/results/blockcnn2018.md).
register_weights(
    "blockcnn_predictor.bsds300",
    _weights(
        "blockcnn_predictor.bsds300",
        "bd64ad464cc0dabad5e90f11d6d092b1a88b70e903a94d3a97c1005ad30d4813",
        "BSDS500 train+val (300 photos), gray (BT.601 luma) 32x32 patches, contexts JPEG-coded at quality 5..60",
        BSDS_ORIGIN,
        {},
        "blockcnn_predictorbsds300-the-blockcnn-codecs-predictor",
    ),
    use="the block predictor of the BlockCNN codec (dejpeg codec encode/decode), not a restorer",
)

# QGAC-small (Ehrlich et al. 2020): the regression model (stages 1-2) and the GAN stage's fine-tuning of it, which
# blends with it (create_model("qgac_small.gan_bsds300", alpha=0.7); dejpeg restore --alpha 0.7).
# Scores: `python benchmarks/car_table.py --model qgac_small.bsds300` (all 200 BSDS500 test200 images).
QGAC_DATA = (
    "BSDS500 train+val (300 photos), random quality 10..100, Y stage half gray, colour stage RGB (4:2:0/4:4:4), "
    "15% non-IJG tables"
)
QGAC_CARD = "qgac_smallbsds300-and-qgac_smallgan_bsds300-ehrlich-et-al-2020"
register_weights(
    "qgac_small.bsds300",
    _weights(
        "qgac_small.bsds300",
        "ccae3862532551f00ecef423f6c127b9d5da97ff0ed98de2c8b13bbfe220eff4",
        QGAC_DATA,
        BSDS_ORIGIN,
        {
            **{f"bsds500_gray_q{q}_psnr_gain": g for q, g in zip((10, 20, 30, 40, 90), (0.87, 0.77, 0.76, 0.74, 0.14))},
            **{
                f"bsds500_color_q{q}_psnr_gain": g for q, g in zip((10, 20, 30, 40, 90), (1.11, 0.91, 0.84, 0.78, 0.55))
            },
        },
        QGAC_CARD,
    ),
    use="gray or colour photos, any JPEG quality (Ehrlich et al. 2020's QGAC at width 32, the regression model)",
)

register_weights(
    "qgac_small.gan_bsds300",
    dataclasses.replace(
        _weights(
            "qgac_small.gan_bsds300",
            "0fb9995ce3d1dad7b53517f42df4e8c9e5698b76f3c313950a55543ae1694bc3",
            QGAC_DATA,
            BSDS_ORIGIN,
            {},
            QGAC_CARD,
        ),
        interpolate_with="qgac_small.bsds300",
    ),
    use="gray or colour photos, any JPEG quality: QGAC-small's GAN stage (sharper texture, lower PSNR); blend with "
    "the regression model by alpha",
)

# Names of earlier releases: the default's lineage, and the superseded defaults whose weights are no longer shipped.
retire("dejpeg_net.dct_blind_v6_bsds300", "dejpeg_net_dct_w192.blind_bsds300")
retire("dejpeg_net.dct_blind_v5_bsds300", "dejpeg_net_dct_w160.blind_bsds300")
for _old in ("dejpeg_net.blind_bsds300", "dejpeg_net.dct_blind_bsds300", "dejpeg_net.dct_blind_v2_bsds300"):
    retire(_old, "dejpeg_net_dct_w192.blind_bsds300")

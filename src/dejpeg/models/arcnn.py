"""ARCNN of Dong, Deng, Loy and Tang, "Compression Artifacts Reduction by a Deep Convolutional Network" (ICCV 2015):
feature extraction, feature enhancement, mapping and reconstruction as four convolutions on the luma, mapping the
JPEG to the image directly, trained one per JPEG quality. The first CNN restorer, kept as the baseline the later
families are measured against; trained with the same recipe as Svoboda et al.'s L4/L8 (last layer at a tenth of
the learning rate, as ARCNN's authors did too).
"""

from __future__ import annotations

from dejpeg.models._plain_cnn import PlainCnn
from dejpeg.models._registry import register_model

#: 106,561 parameters, receptive field 19x19.
ARCNN_LAYERS = ((9, 64), (7, 32), (1, 16), (5, 1))

register_model(
    "arcnn",
    PlainCnn,
    {"layers": ARCNN_LAYERS, "residual": False},
    paper="Dong et al. 2015, Compression Artifacts Reduction by a Deep Convolutional Network",
    use="gray or colour (luma restored) JPEGs at the one quality it is trained at",
)

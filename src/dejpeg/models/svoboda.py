"""L4 and L8 of Svoboda, Hradis, Barina and Zemcik, "Compression Artifacts Removal Using Convolutional Neural
Networks" (WSCG 2016, arXiv:1605.00366): plain convolution chains on the luma, trained one per JPEG quality.

Their point was that such chains train deep and fast when they predict a residual (the correction added to the
input), start from zero-mean ("symmetric") filters, and, for L8, feed the first layer's activations to deeper
layers (the "(+32)" of the paper's Table 1). The recipe (last layer at a tenth of the learning rate, the
objectives) is :class:`~dejpeg.models._plain_cnn.PlainCnnTask` with the run's ``loss``; the edge-emphasised
objective is ``loss: {mse: 1.0, sobel: 1.0}``.
"""

from __future__ import annotations

from dejpeg.models._plain_cnn import PlainCnn
from dejpeg.models._registry import register_model

PAPER = "Svoboda et al. 2016, Compression Artifacts Removal Using Convolutional Neural Networks"
#: Table 1 of the paper: 72,097 parameters, receptive field 19x19.
L4_LAYERS = ((11, 48), (3, 64), (3, 64), (5, 1))
#: 220,545 parameters, receptive field 25x25; layers 5 and 7 (indices 4, 6) also take layer 1's 32 activations.
L8_LAYERS = ((11, 32), (3, 64), (3, 64), (3, 64), (1, 64), (5, 64), (1, 128), (5, 1))
L8_SKIPS = (4, 6)
USE = "gray or colour (luma restored) JPEGs at the one quality it is trained at"

register_model("l4", PlainCnn, {"layers": L4_LAYERS, "residual": True}, paper=PAPER, use=USE)
register_model("l8", PlainCnn, {"layers": L8_LAYERS, "skips": L8_SKIPS, "residual": True}, paper=PAPER, use=USE)

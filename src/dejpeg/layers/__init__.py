"""Building blocks shared by the models: block DCT, table conditioning, block contexts, growth, int8 convolutions."""

from dejpeg.layers.block_dct import BlockDct, BlockIdct, block_dct, block_dct_weights, block_idct
from dejpeg.layers.conditioning import FiLM, FiLMResBlock, qtable_features
from dejpeg.layers.context import blocks_with_context, causal_context, fold_blocks, wavefront
from dejpeg.layers.growth import widen_tensor

__all__ = [
    "BlockDct",
    "BlockIdct",
    "block_dct",
    "block_dct_weights",
    "block_idct",
    "FiLM",
    "FiLMResBlock",
    "qtable_features",
    "blocks_with_context",
    "causal_context",
    "fold_blocks",
    "wavefront",
    "widen_tensor",
]

"""Building blocks shared by the models: block DCT, table conditioning, filter manifolds, block contexts, dense
residual blocks, growth, int8 convolutions."""

from dejpeg.layers.block_dct import BlockDct, BlockIdct, block_dct, block_dct_weights, block_idct
from dejpeg.layers.conditioning import FiLM, FiLMResBlock, qtable_features
from dejpeg.layers.context import blocks_with_context, causal_context, fold_blocks, wavefront
from dejpeg.layers.filter_manifold import ConvolutionalFilterManifold
from dejpeg.layers.growth import widen_tensor
from dejpeg.layers.rrdb import RRDB, ResidualDenseBlock

__all__ = [
    "BlockDct",
    "BlockIdct",
    "block_dct",
    "block_dct_weights",
    "block_idct",
    "FiLM",
    "FiLMResBlock",
    "qtable_features",
    "ConvolutionalFilterManifold",
    "blocks_with_context",
    "causal_context",
    "fold_blocks",
    "wavefront",
    "widen_tensor",
    "RRDB",
    "ResidualDenseBlock",
]

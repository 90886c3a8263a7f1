"""Tables written out from ITU-T T.81, independent of dejpeg's own, for the JPEG tests."""

import numpy as np

# ITU-T T.81 Figure A.6: the zigzag index of each coefficient, laid out in raster order.
SPEC_ZIGZAG_GRID = np.array(
    [
        [0, 1, 5, 6, 14, 15, 27, 28],
        [2, 4, 7, 13, 16, 26, 29, 42],
        [3, 8, 12, 17, 25, 30, 41, 43],
        [9, 11, 18, 24, 31, 40, 44, 53],
        [10, 19, 23, 32, 39, 45, 52, 54],
        [20, 22, 33, 38, 46, 51, 55, 60],
        [21, 34, 37, 47, 50, 56, 59, 61],
        [35, 36, 48, 49, 57, 58, 62, 63],
    ]
)

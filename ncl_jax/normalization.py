"""The network's input normalization (ImageNet's mean and standard deviation, in
0-255 units): the one place the input side and the model's residual filters read."""

import numpy as np

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32) * 255
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32) * 255

# Every 8-bit value of each channel, normalized: float32 [3, 256]. Looking a pixel
# up gives the same number as (value - mean) / std, on the host or on a device.
NORMALIZED_VALUES = ((np.arange(256, dtype=np.float32)[:, None] - IMAGENET_MEAN) / IMAGENET_STD).T

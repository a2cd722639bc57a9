"""The network's input normalization (ImageNet's mean and standard deviation, in
0-255 units): the one place the input side and the model's residual filters read."""

import numpy as np

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32) * 255
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32) * 255

"""ResNet encoder (18/34/50/101) with dilation for output stride 16 or 8.

Every weight starts random: NCL is pre-training free by design.
"""
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

# depth -> (blocks per stage, bottleneck?)
RESNET_LAYOUTS = {
    18: ((2, 2, 2, 2), False),
    34: ((3, 4, 6, 3), False),
    50: ((3, 4, 6, 3), True),
    101: ((3, 4, 23, 3), True),
}
# output stride -> (stride, dilation) of stages 2..4; stage 1 is always stride 1.
_STAGE_SCHEDULE = {
    32: ((2, 1), (2, 1), (2, 1)),
    16: ((2, 1), (2, 1), (1, 2)),
    8: ((2, 1), (1, 2), (1, 4)),
}


def scaled_channels(channels: int, width: float) -> int:
  """Channel count under the width multiplier, never below 8."""
  return max(8, int(round(channels * width)))


def conv(features, kernel, strides=1, dilation=1, dtype=jnp.float32, name=None):
  """Bias-free conv with PyTorch-style symmetric padding (keeps strided shapes exact)."""
  pad = dilation * (kernel - 1) // 2
  return nn.Conv(
      features, (kernel, kernel), strides=(strides, strides),
      padding=((pad, pad), (pad, pad)), kernel_dilation=(dilation, dilation),
      use_bias=False, dtype=dtype, name=name,
      kernel_init=nn.initializers.variance_scaling(2.0, "fan_out", "normal"))


def batch_norm(train: bool, dtype=jnp.float32, name=None, zero_init=False):
  return nn.BatchNorm(
      use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=dtype,
      name=name, scale_init=nn.initializers.zeros if zero_init else nn.initializers.ones)


class BasicBlock(nn.Module):
  filters: int
  strides: int = 1
  dilation: int = 1
  dtype: Any = jnp.float32
  expansion = 1

  @nn.compact
  def __call__(self, x, train: bool):
    residual = x
    y = conv(self.filters, 3, self.strides, self.dilation, self.dtype)(x)
    y = nn.relu(batch_norm(train, self.dtype)(y))
    y = conv(self.filters, 3, 1, self.dilation, self.dtype)(y)
    y = batch_norm(train, self.dtype, zero_init=True)(y)
    if residual.shape != y.shape:
      residual = conv(self.filters, 1, self.strides, 1, self.dtype, name="proj_conv")(x)
      residual = batch_norm(train, self.dtype, name="proj_bn")(residual)
    return nn.relu(residual + y)


class BottleneckBlock(nn.Module):
  filters: int
  strides: int = 1
  dilation: int = 1
  dtype: Any = jnp.float32
  expansion = 4

  @nn.compact
  def __call__(self, x, train: bool):
    residual = x
    y = conv(self.filters, 1, 1, 1, self.dtype)(x)
    y = nn.relu(batch_norm(train, self.dtype)(y))
    y = conv(self.filters, 3, self.strides, self.dilation, self.dtype)(y)
    y = nn.relu(batch_norm(train, self.dtype)(y))
    y = conv(self.filters * 4, 1, 1, 1, self.dtype)(y)
    y = batch_norm(train, self.dtype, zero_init=True)(y)
    if residual.shape != y.shape:
      residual = conv(self.filters * 4, 1, self.strides, 1, self.dtype, name="proj_conv")(x)
      residual = batch_norm(train, self.dtype, name="proj_bn")(residual)
    return nn.relu(residual + y)


class ResNet(nn.Module):
  """Returns (stride-4 features of stage 1, last-stage features at `output_stride`).

  images: [batch, height, width, 3] -> ([batch, H/4, W/4, C1], [batch, H/os, W/os, C4]).
  """
  depth: int = 101
  width: float = 1.0
  output_stride: int = 16
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, images, train: bool):
    stage_sizes, bottleneck = RESNET_LAYOUTS[self.depth]
    block_cls = BottleneckBlock if bottleneck else BasicBlock
    base = scaled_channels(64, self.width)
    x = conv(base, 7, 2, 1, self.dtype, name="stem_conv")(images.astype(self.dtype))
    x = nn.relu(batch_norm(train, self.dtype, name="stem_bn")(x))
    x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
    schedule = ((1, 1),) + _STAGE_SCHEDULE[self.output_stride]
    stage1 = None
    for stage, (num_blocks, (stride, dilation)) in enumerate(zip(stage_sizes, schedule)):
      for block in range(num_blocks):
        x = block_cls(
            base * 2**stage, strides=stride if block == 0 else 1, dilation=dilation,
            dtype=self.dtype, name=f"stage{stage + 1}_block{block + 1}")(x, train)
      if stage == 0:
        stage1 = x
    return stage1, x


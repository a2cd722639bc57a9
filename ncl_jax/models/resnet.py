"""ResNet encoder (18/34/50/101) with dilation for output stride 16 or 8.

Every weight starts random: NCL is pre-training free by design.
"""

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from ncl_jax.models import conv as conv_lib
from ncl_jax.models import pooling

# depth -> (blocks per stage, bottleneck?); ResNet-10 is ResNet-18 with one block
# per stage, the smoke runs' and the tests' network.
RESNET_LAYOUTS = {
  10: ((1, 1, 1, 1), False),
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


def kaiming_normal(mode: str):
  """He initialization, std = sqrt(2 / fan) with fan = "fan_in" or "fan_out"."""
  return nn.initializers.variance_scaling(2.0, mode, "normal")


def conv(
  features,
  kernel,
  strides=1,
  dilation=1,
  dtype=jnp.float32,
  name=None,
  init_mode="fan_out",
  impl="auto",
):
  """Bias-free conv with PyTorch-style symmetric padding (keeps strided shapes exact).
  The backbone's init is the reference's normal(0, sqrt(2 / (k * k * out))), fan-out."""
  pad = dilation * (kernel - 1) // 2
  return nn.Conv(
    features,
    (kernel, kernel),
    strides=(strides, strides),
    padding=((pad, pad), (pad, pad)),
    kernel_dilation=(dilation, dilation),
    use_bias=False,
    dtype=dtype,
    name=name,
    kernel_init=kaiming_normal(init_mode),
    conv_general_dilated=conv_lib.for_impl(impl),
  )


def batch_norm(train: bool, dtype=jnp.float32, name=None, zero_init=False):
  """BatchNorm as the encoder uses it (momentum 0.9, epsilon 1e-5)."""
  return nn.BatchNorm(
    use_running_average=not train,
    momentum=0.9,
    epsilon=1e-5,
    dtype=dtype,
    name=name,
    scale_init=nn.initializers.zeros if zero_init else nn.initializers.ones,
  )


class BasicBlock(nn.Module):
  """ResNet-10/18/34's block: two 3x3 convolutions and a shortcut."""

  filters: int
  strides: int = 1
  dilation: int = 1
  dtype: Any = jnp.float32
  zero_init_residual: bool = False  # last BatchNorm scale starts at 0 (identity block)
  conv_impl: str = "auto"
  expansion = 1

  @nn.compact
  def __call__(self, x, train: bool):
    """[batch, H, W, C] -> [batch, H/strides, W/strides, filters]."""
    residual = x
    y = conv(self.filters, 3, self.strides, self.dilation, self.dtype, impl=self.conv_impl)(x)
    y = nn.relu(batch_norm(train, self.dtype)(y))
    y = conv(self.filters, 3, 1, self.dilation, self.dtype, impl=self.conv_impl)(y)
    y = batch_norm(train, self.dtype, zero_init=self.zero_init_residual)(y)
    if residual.shape != y.shape:
      residual = conv(
        self.filters, 1, self.strides, 1, self.dtype, name="proj_conv", impl=self.conv_impl
      )(x)
      residual = batch_norm(train, self.dtype, name="proj_bn")(residual)
    return nn.relu(residual + y)


class BottleneckBlock(nn.Module):
  """ResNet-50/101's block: 1x1, 3x3 and 1x1 convolutions and a shortcut."""

  filters: int
  strides: int = 1
  dilation: int = 1
  dtype: Any = jnp.float32
  zero_init_residual: bool = False  # last BatchNorm scale starts at 0 (identity block)
  conv_impl: str = "auto"
  expansion = 4

  @nn.compact
  def __call__(self, x, train: bool):
    """[batch, H, W, C] -> [batch, H/strides, W/strides, 4 * filters]."""
    residual = x
    y = conv(self.filters, 1, 1, 1, self.dtype, impl=self.conv_impl)(x)
    y = nn.relu(batch_norm(train, self.dtype)(y))
    y = conv(self.filters, 3, self.strides, self.dilation, self.dtype, impl=self.conv_impl)(y)
    y = nn.relu(batch_norm(train, self.dtype)(y))
    y = conv(self.filters * 4, 1, 1, 1, self.dtype, impl=self.conv_impl)(y)
    y = batch_norm(train, self.dtype, zero_init=self.zero_init_residual)(y)
    if residual.shape != y.shape:
      residual = conv(
        self.filters * 4, 1, self.strides, 1, self.dtype, name="proj_conv", impl=self.conv_impl
      )(x)
      residual = batch_norm(train, self.dtype, name="proj_bn")(residual)
    return nn.relu(residual + y)


class ResNet(nn.Module):
  """Returns (stride-4 features of stage 1, last-stage features at `output_stride`).

  images: [batch, height, width, 3] -> ([batch, H/4, W/4, C1], [batch, H/os, W/os, C4]).
  `multi_grid`: the stage-4 blocks' dilations are these multiples of the stage's
  dilation (the reference's (1, 2, 4) for ResNet-50/101's three blocks; a stage with
  fewer blocks takes the first ones, e.g. (1, 2) for ResNet-18's two).
  """

  depth: int = 101
  width: float = 1.0
  output_stride: int = 16
  dtype: Any = jnp.float32
  multi_grid: Sequence[int] = (1, 2, 4)
  zero_init_residual: bool = False
  conv_impl: str = "auto"

  @nn.compact
  def __call__(self, images, train: bool):
    """images [batch, H, W, C] -> (stage-1 [batch, H/4, W/4, C1],
    last stage [batch, H/os, W/os, C4])."""
    stage_sizes, bottleneck = RESNET_LAYOUTS[self.depth]
    block_cls = BottleneckBlock if bottleneck else BasicBlock
    base = scaled_channels(64, self.width)
    x = conv(base, 7, 2, 1, self.dtype, name="stem_conv", impl=self.conv_impl)(
      images.astype(self.dtype)
    )
    x = nn.relu(batch_norm(train, self.dtype, name="stem_bn")(x))
    x = pooling.max_pool(x, 3, 2, 1, self.conv_impl)
    schedule = ((1, 1),) + _STAGE_SCHEDULE[self.output_stride]
    stage1 = None
    for stage, (num_blocks, (stride, dilation)) in enumerate(zip(stage_sizes, schedule)):
      for block in range(num_blocks):
        grid = self.multi_grid[min(block, len(self.multi_grid) - 1)] if stage == 3 else 1
        x = block_cls(
          base * 2**stage,
          strides=stride if block == 0 else 1,
          dilation=dilation * grid,
          dtype=self.dtype,
          zero_init_residual=self.zero_init_residual,
          conv_impl=self.conv_impl,
          name=f"stage{stage + 1}_block{block + 1}",
        )(x, train)
      if stage == 0:
        stage1 = x
    return stage1, x

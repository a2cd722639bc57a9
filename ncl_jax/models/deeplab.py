"""DeepLabV3+ head: ASPP at the encoder's output stride, decoder at stride 4."""

import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from ncl_jax.models.resnet import batch_norm, conv


def resize_bilinear(x, spatial_shape):
  """[batch, h, w, c] -> [batch, H, W, c] (half-pixel centres, as align_corners=False)."""
  return jax.image.resize(x, (x.shape[0], *spatial_shape, x.shape[-1]), "bilinear")


class ConvBNReLU(nn.Module):
  """Convolution, BatchNorm and ReLU."""

  features: int
  kernel: int = 1
  dilation: int = 1
  dtype: Any = jnp.float32
  init_mode: str = "fan_in"  # the reference's kaiming_normal_ (fan-in) in ASPP and decoder
  conv_impl: str = "auto"

  @nn.compact
  def __call__(self, x, train: bool):
    """[batch, H, W, C] -> [batch, H/stride, W/stride, features]."""
    x = conv(
      self.features,
      self.kernel,
      1,
      self.dilation,
      self.dtype,
      init_mode=self.init_mode,
      impl=self.conv_impl,
    )(x)
    return nn.relu(batch_norm(train, self.dtype)(x))


class ASPP(nn.Module):
  """1x1, three atrous 3x3 and an image-pooling branch, concatenated, projected,
  then dropout (the reference: 0.5)."""

  channels: int = 256
  rates: Sequence[int] = (6, 12, 18)
  dtype: Any = jnp.float32
  dropout: float = 0.5
  init_mode: str = "fan_in"
  conv_impl: str = "auto"

  @nn.compact
  def __call__(self, x, train: bool):
    """[batch, h, w, C] encoder features -> [batch, h, w, channels]."""
    layer = functools.partial(
      ConvBNReLU,
      self.channels,
      dtype=self.dtype,
      init_mode=self.init_mode,
      conv_impl=self.conv_impl,
    )
    branches = [layer(1, name="branch_1x1")(x, train)]
    for rate in self.rates:
      branches.append(layer(3, rate, name=f"branch_rate{rate}")(x, train))
    pooled = layer(1, name="branch_pool")(jnp.mean(x, axis=(1, 2), keepdims=True), train)
    branches.append(jnp.broadcast_to(pooled, branches[0].shape))
    x = layer(1, name="projection")(jnp.concatenate(branches, axis=-1), train)
    return nn.Dropout(self.dropout)(x, deterministic=not train)


class Decoder(nn.Module):
  """Upsample ASPP output to stride 4, fuse with projected low-level features; a
  dropout after each of the two fusing convs (the reference: 0.5 and 0.1)."""

  low_level_channels: int = 48
  channels: int = 256
  dtype: Any = jnp.float32
  dropouts: Sequence[float] = (0.5, 0.1)
  init_mode: str = "fan_in"
  conv_impl: str = "auto"

  @nn.compact
  def __call__(self, aspp_features, low_level_features, train: bool):
    """ASPP features [batch, h, w, C] and stage-1 features [batch, H/4, W/4, C1]
    -> [batch, H/4, W/4, channels]."""
    layer = functools.partial(
      ConvBNReLU, dtype=self.dtype, init_mode=self.init_mode, conv_impl=self.conv_impl
    )
    low = layer(self.low_level_channels, 1, name="low_level")(low_level_features, train)
    high = resize_bilinear(aspp_features, low.shape[1:3])
    x = jnp.concatenate([high, low.astype(high.dtype)], axis=-1)
    for index, rate in enumerate(self.dropouts):
      x = layer(self.channels, 3, name=f"fuse{index + 1}")(x, train)
      x = nn.Dropout(rate)(x, deterministic=not train)
    return x

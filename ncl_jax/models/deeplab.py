"""DeepLabV3+ head: ASPP at the encoder's output stride, decoder at stride 4."""
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from ncl_jax.models.resnet import batch_norm, conv


def resize_bilinear(x, spatial_shape):
  """[batch, h, w, c] -> [batch, H, W, c] (half-pixel centres, as align_corners=False)."""
  return jax.image.resize(x, (x.shape[0], *spatial_shape, x.shape[-1]), "bilinear")


class ConvBNReLU(nn.Module):
  features: int
  kernel: int = 1
  dilation: int = 1
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    x = conv(self.features, self.kernel, 1, self.dilation, self.dtype)(x)
    return nn.relu(batch_norm(train, self.dtype)(x))


class ASPP(nn.Module):
  """1x1, three atrous 3x3 and an image-pooling branch, concatenated and projected."""
  channels: int = 256
  rates: Sequence[int] = (6, 12, 18)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    branches = [ConvBNReLU(self.channels, 1, dtype=self.dtype, name="branch_1x1")(x, train)]
    for rate in self.rates:
      branches.append(
          ConvBNReLU(self.channels, 3, rate, self.dtype, name=f"branch_rate{rate}")(x, train))
    pooled = jnp.mean(x, axis=(1, 2), keepdims=True)
    pooled = ConvBNReLU(self.channels, 1, dtype=self.dtype, name="branch_pool")(pooled, train)
    branches.append(jnp.broadcast_to(pooled, branches[0].shape))
    x = jnp.concatenate(branches, axis=-1)
    return ConvBNReLU(self.channels, 1, dtype=self.dtype, name="projection")(x, train)


class Decoder(nn.Module):
  """Upsample ASPP output to stride 4, fuse with projected low-level features."""
  low_level_channels: int = 48
  channels: int = 256
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, aspp_features, low_level_features, train: bool):
    low = ConvBNReLU(self.low_level_channels, 1, dtype=self.dtype, name="low_level")(
        low_level_features, train)
    high = resize_bilinear(aspp_features, low.shape[1:3])
    x = jnp.concatenate([high, low.astype(high.dtype)], axis=-1)
    x = ConvBNReLU(self.channels, 3, dtype=self.dtype, name="fuse1")(x, train)
    return ConvBNReLU(self.channels, 3, dtype=self.dtype, name="fuse2")(x, train)

"""Noise residuals as extra input channels: an option beyond the paper.

Forensic networks trained from random weights (RGB-N, ManTra-Net, SPAN) are
given the image's high-pass residuals beside its colours, so that the first
layer sees a camera's noise, and where it is missing or different (inpainted,
pasted or resampled content), without having to learn the filters first. The
three fixed SRM filters of RGB-N (Zhou et al., CVPR 2018) are applied to the
grey level (the mean of R, G and B, in 8-bit units) and truncated, as there: a
residual larger than a few grey levels is an edge of the scene, not noise. Learned
residuals, from Bayar and Stamm's constrained convolutions, can be added beside them
or used instead.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ncl_jax import normalization

# Second-order horizontal, 5x5 "KV" and 3x3 "KB" filters, each summing to 0.
_FILTERS = (
  np.array(
    [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 1, -2, 1, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
    np.float32,
  )
  / 2,
  np.array(
    [
      [-1, 2, -2, 2, -1],
      [2, -6, 8, -6, 2],
      [-2, 8, -12, 8, -2],
      [2, -6, 8, -6, 2],
      [-1, 2, -2, 2, -1],
    ],
    np.float32,
  )
  / 12,
  np.array(
    [[0, 0, 0, 0, 0], [0, -1, 2, -1, 0], [0, 2, -4, 2, 0], [0, -1, 2, -1, 0], [0, 0, 0, 0, 0]],
    np.float32,
  )
  / 4,
)
SRM_KERNEL = np.stack(_FILTERS, axis=-1)[:, :, None, :]  # [5, 5, 1, 3] (HWIO)
TRUNCATION = 3.0  # grey levels


def grey_level(images: jnp.ndarray) -> jnp.ndarray:
  """ImageNet-normalized [batch, H, W, 3] -> [batch, H, W, 1], the mean of R, G and B
  in 8-bit units."""
  pixels = images * normalization.IMAGENET_STD + normalization.IMAGENET_MEAN
  return jnp.mean(pixels, axis=-1, keepdims=True)


def _reflected_grey(images: jnp.ndarray, margin: int) -> jnp.ndarray:
  """[batch, H, W, 3] -> float32 [batch, H + 2 margin, W + 2 margin, 1]: the grey level with
  reflected borders, so that the frame of the image is not an edge."""
  grey = grey_level(images.astype(jnp.float32))
  return jnp.pad(grey, ((0, 0), (margin, margin), (margin, margin), (0, 0)), mode="reflect")


def _truncated(residuals: jnp.ndarray) -> jnp.ndarray:
  return jnp.clip(residuals, -TRUNCATION, TRUNCATION) / TRUNCATION


def srm_residuals(images: jnp.ndarray) -> jnp.ndarray:
  """ImageNet-normalized [batch, H, W, 3] -> float32 [batch, H, W, 3] in [-1, 1].

  Fixed filters: no gradient flows through them. Written as a sum of shifted grey
  maps (one fused element-wise loop) rather than a convolution, which XLA:CPU runs
  20x slower with one input channel (the filtering alone: 76 ms against 4 ms at
  512 px, batch 8; 2% of photos.py's train step); the two agree to 1e-5.
  """
  size = SRM_KERNEL.shape[0]
  grey = _reflected_grey(images, size // 2)
  height, width = images.shape[1:3]
  residuals = sum(
    grey[:, dy : dy + height, dx : dx + width] * SRM_KERNEL[dy, dx, 0]
    for dy in range(size)
    for dx in range(size)
    if SRM_KERNEL[dy, dx, 0].any()
  )
  return jax.lax.stop_gradient(_truncated(residuals))


def constrained_kernel(deviations: jnp.ndarray, size: int) -> jnp.ndarray:
  """Bayar and Stamm's constraint on a [size, size, 1, filters] kernel: the centre tap
  is -1 and the others sum to 1, so each filter predicts a pixel from its neighbours
  and returns the prediction error (a flat image gives 0).

  `deviations` [size * size - 1, filters] are free: the off-centre taps are
  1 / (size * size - 1) plus the deviations less their mean, which meets the
  constraint exactly for any value (no division by a sum that can reach 0, as in
  the usual renormalization after every step).
  """
  taps = deviations.shape[0]
  off_centre = 1.0 / taps + deviations - jnp.mean(deviations, axis=0, keepdims=True)
  centre = taps // 2
  flat = jnp.concatenate(
    [off_centre[:centre], -jnp.ones_like(off_centre[:1]), off_centre[centre:]], axis=0
  )
  return flat.reshape(size, size, 1, deviations.shape[1])


class ConstrainedResiduals(nn.Module):
  """Learned noise residuals: `filters` constrained 5x5 convolutions (Bayar and Stamm,
  IH&MMSec 2016; the noise branch of ManTra-Net and MVSS-Net) of the grey level,
  truncated as the SRM residuals. ImageNet-normalized [batch, H, W, 3] ->
  float32 [batch, H, W, filters] in [-1, 1]."""

  filters: int = 3
  size: int = 5

  @nn.compact
  def __call__(self, images: jnp.ndarray) -> jnp.ndarray:
    """images [batch, H, W, 3] (normalized) -> [batch, H, W, filters] truncated residuals."""
    deviations = self.param(
      "deviations", nn.initializers.normal(0.1), (self.size * self.size - 1, self.filters)
    )
    grey = _reflected_grey(images, self.size // 2)
    residuals = jax.lax.conv_general_dilated(
      grey,
      constrained_kernel(deviations, self.size),
      (1, 1),
      "VALID",
      dimension_numbers=("NHWC", "HWIO", "NHWC"),
      precision=jax.lax.Precision.HIGHEST,
    )
    return _truncated(residuals)

"""Noise residuals as extra input channels: an option beyond the paper.

Forensic networks trained from random weights (RGB-N, ManTra-Net, SPAN) are
given the image's high-pass residuals beside its colours, so that the first
layer sees a camera's noise, and where it is missing or different (inpainted,
pasted or resampled content), without having to learn the filters first. The
three fixed SRM filters of RGB-N (Zhou et al., CVPR 2018) are applied to the
grey level (the mean of R, G and B, in 8-bit units) and truncated, as there: a residual larger than a few
grey levels is an edge of the scene, not noise.
"""
import jax
import jax.numpy as jnp
import numpy as np

from ncl_jax import imaging

# Second-order horizontal, 5x5 "KV" and 3x3 "KB" filters, each summing to 0.
_FILTERS = (
    np.array([[0, 0, 0, 0, 0],
              [0, 0, 0, 0, 0],
              [0, 1, -2, 1, 0],
              [0, 0, 0, 0, 0],
              [0, 0, 0, 0, 0]], np.float32) / 2,
    np.array([[-1, 2, -2, 2, -1],
              [2, -6, 8, -6, 2],
              [-2, 8, -12, 8, -2],
              [2, -6, 8, -6, 2],
              [-1, 2, -2, 2, -1]], np.float32) / 12,
    np.array([[0, 0, 0, 0, 0],
              [0, -1, 2, -1, 0],
              [0, 2, -4, 2, 0],
              [0, -1, 2, -1, 0],
              [0, 0, 0, 0, 0]], np.float32) / 4,
)
SRM_KERNEL = np.stack(_FILTERS, axis=-1)[:, :, None, :]   # [5, 5, 1, 3] (HWIO)
TRUNCATION = 3.0   # grey levels


def grey_level(images: jnp.ndarray) -> jnp.ndarray:
  """ImageNet-normalized [batch, H, W, 3] -> [batch, H, W, 1], the mean of R, G and B
  in 8-bit units."""
  pixels = images * imaging.IMAGENET_STD + imaging.IMAGENET_MEAN
  return jnp.mean(pixels, axis=-1, keepdims=True)


def srm_residuals(images: jnp.ndarray) -> jnp.ndarray:
  """ImageNet-normalized [batch, H, W, 3] -> float32 [batch, H, W, 3] in [-1, 1].

  Borders are reflected, so the frame of the image is not an edge. Fixed filters:
  no gradient flows through them.
  """
  grey = jnp.pad(grey_level(images.astype(jnp.float32)), ((0, 0), (2, 2), (2, 2), (0, 0)),
                 mode="reflect")
  residuals = jax.lax.conv_general_dilated(
      grey, jnp.asarray(SRM_KERNEL), (1, 1), "VALID",
      dimension_numbers=("NHWC", "HWIO", "NHWC"),
      precision=jax.lax.Precision.HIGHEST)
  return jax.lax.stop_gradient(jnp.clip(residuals, -TRUNCATION, TRUNCATION) / TRUNCATION)

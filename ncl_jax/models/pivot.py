"""The pivot structure: two symmetric branches turning an image's contour patches
into one hard positive (se+) and one hard negative (se-)."""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp


class PivotBranch(nn.Module):
  """Conv1x1 over the contour-slot axis -> BatchNorm -> ReLU.

  contour_features: [batch, K, d]; contour_valid: [batch, K] bool;
  image_has_contour: [batch] bool, whether any slot of the image is valid.
  Returns [batch, d]: one pivot feature per image, the shape of one patch feature.
  """

  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, contour_features, contour_valid, image_has_contour, train: bool):
    # Missing slots are zero, as the spec asks: the learned slot weights see zeros.
    """Contour patch features [batch, K, D] -> the pivot output [batch, D] of each image."""
    x = jnp.where(contour_valid[..., None], contour_features, 0.0)
    # A 1x1 conv with K input channels and one output channel, applied at each of
    # the d feature positions, is a Dense over the slot axis.
    x = nn.Dense(1, dtype=self.dtype, name="slot_mixer")(jnp.swapaxes(x, 1, 2))  # [b, d, 1]
    # BatchNorm statistics only over images that have contour patches; a batch with
    # none falls back to all images so the statistics stay finite (its pivot terms
    # are masked out of the loss anyway).
    stats_mask = jnp.where(jnp.any(image_has_contour), image_has_contour, True)
    x = nn.BatchNorm(
      use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=self.dtype, name="bn"
    )(x, mask=stats_mask[:, None, None])
    return nn.relu(x)[..., 0]

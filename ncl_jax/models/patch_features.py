"""Patch features: each patch's block of the stride-4 feature map as one vector, and
the gathering of sampled patches (the network's side of the method's patches)."""

import jax.numpy as jnp

# The patch features come from the stride-4 map after the first ResNet stage.
FEATURE_STRIDE = 4


def patch_grid(feature_map, cells_per_patch: int):
  """Flatten each patch's block of the feature map into one vector.

  Args:
    feature_map: [batch, h, w, c] (the stride-4 stage-1 features).
    cells_per_patch: patch_size / 4, the block side in feature cells.

  Returns:
    [batch, h/cells, w/cells, cells*cells*c], row-major within the block.
  """
  batch, height, width, channels = feature_map.shape
  c = cells_per_patch
  x = feature_map.reshape(batch, height // c, c, width // c, c, channels)
  x = x.transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(batch, height // c, width // c, c * c * channels)


def gather_patches(patch_features, index):
  """[batch, hp, wp, d] and [batch, n] -> [batch, n, d]."""
  batch, _, _, dim = patch_features.shape
  flat = patch_features.reshape(batch, -1, dim)
  return jnp.take_along_axis(flat, index[..., None], axis=1)

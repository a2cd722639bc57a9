"""Patch categories (authentic / tampered / contour), patch features and sampling.

All functions are jit-friendly: shapes are static and sampling returns validity
masks instead of variable-length sets.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

AUTHENTIC = 0
TAMPERED = 1
CONTOUR = 2


def _drop_channel_axis(mask):
  """[batch, H, W] or [batch, H, W, 1] -> [batch, H, W]."""
  if mask.ndim == 4:
    if mask.shape[-1] != 1:
      raise ValueError(f"mask must have one channel, got shape {mask.shape}")
    mask = mask[..., 0]
  if mask.ndim != 3:
    raise ValueError(f"mask must be [batch, H, W] or [batch, H, W, 1], got {mask.shape}")
  return mask


def categorize_patches(mask, patch_size: int):
  """Categorize each non-overlapping patch by its fraction r of manipulated pixels.

  Args:
    mask: [batch, H, W] or [batch, H, W, 1], values in {0, 1}.
    patch_size: side of a square patch; must divide H and W.

  Returns:
    int32 [batch, H/patch_size, W/patch_size]: AUTHENTIC (r = 0),
    TAMPERED (r = 1) or CONTOUR (0 < r < 1).
  """
  mask = _drop_channel_axis(mask)
  batch, height, width = mask.shape
  if height % patch_size or width % patch_size:
    raise ValueError(f"mask size {height}x{width} is not a multiple of patch_size={patch_size}")
  grid = (
    (mask > 0.5)
    .astype(jnp.int32)
    .reshape(batch, height // patch_size, patch_size, width // patch_size, patch_size)
  )
  count = grid.sum(axis=(2, 4))
  full = patch_size * patch_size
  return jnp.where(count == 0, AUTHENTIC, jnp.where(count == full, TAMPERED, CONTOUR)).astype(
    jnp.int32
  )


class PatchSample(NamedTuple):
  """Sampled patches of one category: `index` int32 [batch, n] into the flattened
  patch grid, `valid` bool [batch, n] (invalid slots point at arbitrary patches)."""

  index: jnp.ndarray
  valid: jnp.ndarray


class SampledPatches(NamedTuple):
  """Everything the objective and the pivot branches need to know about patches."""

  categories: jnp.ndarray  # int32 [batch, H/p, W/p]: AUTHENTIC, TAMPERED or CONTOUR
  tampered: PatchSample
  authentic: PatchSample
  contour: PatchSample  # the slots the pivot branches mix (K per image)


def sample_patch_indices(categories, category: int, num_samples: int, rng) -> PatchSample:
  """Per image, up to `num_samples` patches of `category`, uniformly without replacement.

  Args:
    categories: int32 [batch, hp, wp] from `categorize_patches`.
    category: AUTHENTIC, TAMPERED or CONTOUR.
    num_samples: static number of slots per image.
    rng: PRNG key.

  Returns:
    PatchSample(index int32 [batch, num_samples] into the flattened hp*wp grid,
    valid bool [batch, num_samples]); invalid slots point at arbitrary patches.
  """
  batch = categories.shape[0]
  flat = categories.reshape(batch, -1)
  num_samples = min(num_samples, flat.shape[1])
  # Random priorities in [0, 1) for matching patches, below zero otherwise: top_k
  # then draws matching patches first, in random order.
  priority = jax.random.uniform(rng, flat.shape) - 2.0 * (flat != category)
  _, index = jax.lax.top_k(priority, num_samples)
  valid = jnp.take_along_axis(flat, index, axis=1) == category
  return PatchSample(index.astype(jnp.int32), valid)


def sample_patches(mask, rng, patch_size: int, per_class: int, num_contour: int) -> SampledPatches:
  """Categories of every patch of a batch and fresh samples of each category.

  mask: [batch, H, W] in {0, 1}; `per_class` tampered and authentic patches and
  `num_contour` contour patches per image, uniformly without replacement.
  """
  categories = categorize_patches(mask, patch_size)
  keys = jax.random.split(rng, 3)
  return SampledPatches(
    categories,
    tampered=sample_patch_indices(categories, TAMPERED, per_class, keys[0]),
    authentic=sample_patch_indices(categories, AUTHENTIC, per_class, keys[1]),
    contour=sample_patch_indices(categories, CONTOUR, num_contour, keys[2]),
  )


def contour_pixel_mask(categories, patch_size: int):
  """[batch, hp, wp] categories -> bool [batch, hp*patch_size, wp*patch_size]."""
  contour = categories == CONTOUR
  return jnp.repeat(jnp.repeat(contour, patch_size, axis=1), patch_size, axis=2)

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ncl_jax.method import patches
from ncl_jax.models import patch_features


def numpy_categories(mask, patch_size):
  batch, height, width = mask.shape
  out = np.zeros((batch, height // patch_size, width // patch_size), np.int32)
  for b in range(batch):
    for i in range(height // patch_size):
      for j in range(width // patch_size):
        block = mask[
          b, i * patch_size : (i + 1) * patch_size, j * patch_size : (j + 1) * patch_size
        ]
        ratio = block.mean()
        out[b, i, j] = 0 if ratio == 0 else (1 if ratio == 1 else 2)
  return out


@pytest.mark.parametrize("with_channel", [False, True])
def test_categorize_patches_matches_numpy(with_channel):
  rng = np.random.default_rng(0)
  mask = np.zeros((3, 32, 48), np.uint8)
  mask[0, 4:20, 8:40] = 1  # tampered, contour and authentic patches
  mask[1] = rng.random((32, 48)) < 0.5
  mask[2, :16, :16] = 1  # exactly one tampered patch, no contour
  expected = numpy_categories(mask, 8)
  given = mask[..., None] if with_channel else mask
  got = np.asarray(patches.categorize_patches(jnp.asarray(given), 8))
  assert got.dtype == np.int32 and got.shape == (3, 4, 6)
  np.testing.assert_array_equal(got, expected)
  assert set(np.unique(got[0])) == {0, 1, 2}
  assert (numpy_categories(mask, 16)[2] != 2).all()


def test_categorize_patches_rejects_bad_shapes():
  with pytest.raises(ValueError, match="not a multiple of patch_size"):
    patches.categorize_patches(jnp.zeros((1, 30, 32)), 16)
  with pytest.raises(ValueError, match="one channel"):
    patches.categorize_patches(jnp.zeros((1, 32, 32, 3)), 16)


def test_sample_patch_indices_without_replacement_and_valid():
  categories = jnp.asarray(np.random.default_rng(1).integers(0, 3, (4, 5, 5)), jnp.int32)
  flat = np.asarray(categories).reshape(4, -1)
  for category in (0, 1, 2):
    index, valid = patches.sample_patch_indices(categories, category, 12, jax.random.PRNGKey(3))
    index, valid = np.asarray(index), np.asarray(valid)
    assert index.shape == valid.shape == (4, 12)
    for b in range(4):
      available = int((flat[b] == category).sum())
      assert valid[b].sum() == min(available, 12)
      chosen = index[b][valid[b]]
      assert len(set(chosen.tolist())) == len(chosen)  # no repeats
      assert (flat[b][chosen] == category).all()


def test_sample_patch_indices_is_uniform_and_seeded():
  categories = jnp.ones((1, 4, 4), jnp.int32)  # 16 tampered patches, sample 4
  counts = np.zeros(16)
  for seed in range(400):
    index, _ = patches.sample_patch_indices(categories, 1, 4, jax.random.PRNGKey(seed))
    counts[np.asarray(index[0])] += 1
  assert counts.min() > 60 and counts.max() < 140  # expected 100 each
  a = patches.sample_patch_indices(categories, 1, 4, jax.random.PRNGKey(7))[0]
  b = patches.sample_patch_indices(categories, 1, 4, jax.random.PRNGKey(7))[0]
  np.testing.assert_array_equal(a, b)


def test_patch_grid_flattens_blocks_row_major():
  features = np.arange(2 * 8 * 8 * 3, dtype=np.float32).reshape(2, 8, 8, 3)
  grid = np.asarray(patch_features.patch_grid(jnp.asarray(features), 4))
  assert grid.shape == (2, 2, 2, 4 * 4 * 3)
  np.testing.assert_array_equal(grid[1, 1, 0], features[1, 4:8, 0:4].reshape(-1))
  gathered = np.asarray(
    patch_features.gather_patches(jnp.asarray(grid), jnp.asarray([[3, 0], [2, 1]]))
  )
  np.testing.assert_array_equal(gathered[0, 0], grid[0, 1, 1])
  np.testing.assert_array_equal(gathered[1, 0], grid[1, 1, 0])


def test_contour_pixel_mask():
  categories = jnp.asarray([[[0, 2], [1, 2]]], jnp.int32)
  pixels = np.asarray(patches.contour_pixel_mask(categories, 4))
  assert pixels.shape == (1, 8, 8)
  assert pixels[0, :4, 4:].all() and pixels[0, 4:, 4:].all()
  assert not pixels[0, :, :4].any()

"""Summary pictures of an evaluation's predictions (TensorBoard and reports)."""

import numpy as np

from ncl_jax.method import patches
from ncl_jax.normalization import IMAGENET_MEAN, IMAGENET_STD
from ncl_jax.serving import visualize


def summary_picture(normalized_image, mask, probabilities, config) -> np.ndarray:
  """image | ground truth | prediction | thresholded prediction | patch categories,
  uint8 [S, 5 * S, 3], from an evaluation batch's row and its prediction."""
  image = np.clip(normalized_image * IMAGENET_STD + IMAGENET_MEAN, 0, 255)
  image = np.round(image).astype(np.uint8)
  categories = np.asarray(patches.categorize_patches(mask[None], config.patch_size))[0]
  panels = (
    image,
    np.repeat(mask[..., None] * 255, 3, -1),
    visualize.heatmap(probabilities),
    visualize.overlay(image, probabilities > config.eval_threshold),
    visualize.patch_category_image(categories, config.patch_size),
  )
  return np.concatenate(panels, axis=1)

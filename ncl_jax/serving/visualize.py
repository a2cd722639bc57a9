"""Pictures of predictions: heat maps and overlays (NumPy only), and a matplotlib
figure of image / ground truth / prediction / patch categories (needs the `viz`
extra: pip install -e ".[viz]")."""

import numpy as np
from scipy import ndimage

from ncl_jax.method import patches

# A perceptually ordered dark-to-bright map (black, purple, red, orange, yellow).
_HEAT_POINTS = np.array(
  [[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], np.float32
)
PATCH_COLOURS = np.array([[40, 40, 40], [230, 60, 40], [250, 200, 40]], np.uint8)  # a, t, c


def heatmap(probabilities) -> np.ndarray:
  """float [H, W] in [0, 1] -> uint8 [H, W, 3] heat map."""
  positions = np.linspace(0.0, 1.0, len(_HEAT_POINTS))
  p = np.clip(np.asarray(probabilities, np.float32), 0, 1)
  channels = [np.interp(p, positions, _HEAT_POINTS[:, c]) for c in range(3)]
  return np.stack(channels, -1).astype(np.uint8)


def outline(mask) -> np.ndarray:
  """bool [H, W]: the boundary pixels of a binary mask."""
  mask = np.asarray(mask, bool)
  return mask & ~ndimage.binary_erosion(mask, iterations=1, border_value=0)


def overlay(image, mask, colour=(255, 40, 40), alpha=0.4) -> np.ndarray:
  """The image with the predicted region tinted and outlined. uint8 [H, W, 3]."""
  image = np.asarray(image, np.float32)
  mask = np.asarray(mask, bool)
  tinted = np.where(mask[..., None], (1 - alpha) * image + alpha * np.array(colour), image)
  edge = ndimage.binary_dilation(outline(mask), iterations=max(1, min(mask.shape) // 256))
  tinted[edge] = colour
  return tinted.astype(np.uint8)


def patch_category_image(categories, patch_size) -> np.ndarray:
  """int [hp, wp] of AUTHENTIC/TAMPERED/CONTOUR -> uint8 [hp*p, wp*p, 3]."""
  big = np.kron(np.asarray(categories), np.ones((patch_size, patch_size), np.int64))
  return PATCH_COLOURS[big]


def figure(images, masks, probabilities, patch_size=16, threshold=0.5):
  """A matplotlib figure, one row per example: image, ground truth, prediction,
  thresholded prediction, patch categories (dark authentic, red tampered, yellow contour)."""
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  rows = len(images)
  fig, axes = plt.subplots(rows, 5, figsize=(12, 2.6 * rows), squeeze=False)
  titles = ("image", "ground truth", "prediction", f"> {threshold}", "patch categories")
  for row, (image, mask, prob) in enumerate(zip(images, masks, probabilities)):
    height, width = mask.shape
    crop = (height // patch_size * patch_size, width // patch_size * patch_size)
    categories = np.asarray(
      patches.categorize_patches(np.asarray(mask)[None, : crop[0], : crop[1]], patch_size)
    )[0]
    panels = (
      image,
      mask,
      heatmap(prob),
      overlay(image, prob > threshold),
      patch_category_image(categories, patch_size),
    )
    for col, panel in enumerate(panels):
      axes[row, col].imshow(panel, cmap="gray" if col == 1 else None, vmin=0, vmax=1)
      axes[row, col].set_axis_off()
      if row == 0:
        axes[row, col].set_title(titles[col])
  fig.tight_layout()
  return fig

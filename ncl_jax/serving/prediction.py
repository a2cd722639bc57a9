"""The one prediction function: normalized images -> manipulation probabilities,
optionally averaged over flips and transposes of each image (test-time views).

Evaluation compiles it over a device mesh; `Predictor` and the export compile it
for one device.
"""

import jax
import jax.numpy as jnp

PREDICTION_VIEWS = (1, 2, 4, 8)


def check_views(views):
  """`views` itself, or a ValueError naming it where it is not a PREDICTION_VIEWS value."""
  if views not in PREDICTION_VIEWS:
    raise ValueError(f"views must be one of {PREDICTION_VIEWS}, got {views!r}")
  return views


def predict_probabilities(model, variables, images_batch, views=1):
  """The one prediction function: images [b, H, W, 3] (normalized) ->
  manipulation probabilities [b, H, W].

  `views` > 1 averages the probabilities over that many symmetries of the image
  (test-time augmentation): the identity, the horizontal flip, the vertical flip,
  both flips, then the same four of the transpose (8 needs H == W). The views run
  one after another (lax.map), so memory stays that of one batch.
  """

  def probabilities(images):
    return jax.nn.sigmoid(model.apply(variables, images, train=False)["logits"][..., 0])

  if check_views(views) == 1:
    return probabilities(images_batch)
  if views == 8 and images_batch.shape[1] != images_batch.shape[2]:
    raise ValueError(
      f"views=8 transposes the images: they must be square, "
      f"got {images_batch.shape[1]}x{images_batch.shape[2]}"
    )
  viewed = jnp.stack([_view(images_batch, index) for index in range(views)])
  maps = jax.lax.map(probabilities, viewed)  # [views, b, H, W]
  return jnp.mean(jnp.stack([_unview(maps[index], index) for index in range(views)]), axis=0)


def _view(images, index):
  """Symmetry `index` (0-7) of [b, H, W, ...]: flips of axis 2 (bit 0) and axis 1
  (bit 1) after a transpose (bit 2)."""
  if index & 4:
    images = jnp.swapaxes(images, 1, 2)
  if index & 1:
    images = images[:, :, ::-1]
  if index & 2:
    images = images[:, ::-1]
  return images


def _unview(maps, index):
  """The inverse of _view on [b, H, W] maps: the flips undone, then the transpose."""
  if index & 2:
    maps = maps[:, ::-1]
  if index & 1:
    maps = maps[:, :, ::-1]
  if index & 4:
    maps = jnp.swapaxes(maps, 1, 2)
  return maps

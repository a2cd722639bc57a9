"""The one prediction function: normalized images -> manipulation probabilities,
optionally averaged over flips and transposes of each image (test-time views) and
over the networks of an ensemble.

Evaluation compiles it over a device mesh; `Predictor` and the export compile it
for one device.
"""

import jax
import jax.numpy as jnp
import numpy as np

PREDICTION_VIEWS = (1, 2, 4, 8)


def check_views(views):
  """`views` itself, or a ValueError naming it where it is not a PREDICTION_VIEWS value."""
  if views not in PREDICTION_VIEWS:
    raise ValueError(f"views must be one of {PREDICTION_VIEWS}, got {views!r}")
  return views


def one_architecture(variables_list) -> bool:
  """Whether several networks' variables share one tree and every array's shape."""
  structures = {jax.tree.structure(v) for v in variables_list}
  shapes = {tuple(np.shape(x) for x in jax.tree.leaves(v)) for v in variables_list}
  return len(structures) == 1 and len(shapes) == 1


def stack_members(members_variables) -> dict:
  """The variables of several networks of one architecture as one ensemble's:
  each array stacked on a leading [members] axis. ValueError where they differ."""
  if not one_architecture(members_variables):
    raise ValueError("an ensemble's networks must share one architecture; these differ")
  return jax.tree.map(lambda *arrays: jnp.stack(arrays), *members_variables)


def predict_probabilities(model, variables, images_batch, views=1, members=1):
  """The one prediction function: images [b, H, W, 3] (normalized) ->
  manipulation probabilities [b, H, W].

  `views` > 1 averages the probabilities over that many symmetries of the image
  (test-time augmentation): the identity, the horizontal flip, the vertical flip,
  both flips, then the same four of the transpose (8 needs H == W). The views run
  one after another (lax.map), so memory stays that of one batch.

  `members` > 1: `variables` are an ensemble's (stack_members: [members, ...]
  arrays) and the probabilities are the mean of its networks', each with its views;
  the networks also run one after another.
  """
  if members > 1:
    if {np.shape(x)[:1] for x in jax.tree.leaves(variables)} != {(members,)}:
      raise ValueError(f"variables are not {members} networks stacked (stack_members)")

    def member_probabilities(member_variables):
      return predict_probabilities(model, member_variables, images_batch, views)

    return jnp.mean(jax.lax.map(member_probabilities, variables), axis=0)

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

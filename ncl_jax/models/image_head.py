"""A trained image-level decision (as TruFor's detector reads its localization
map): a logistic regression on pooled statistics of the manipulation probability
map, trained with a binary cross-entropy beside the pixel losses.

The same statistics are taken of the training map (the final classifier's
stride-4 map) and, at prediction, of the image's full probability map, so the
head's probability is the image score everywhere (serving/scoring.py).
"""

import flax.linen as nn
import jax.numpy as jnp

# "pooled_detached" learns from the map without moving it, as TruFor trains its
# detector on a frozen localization network.
IMAGE_HEADS = ("none", "pooled", "pooled_detached")
# The statistics of a probability map the head weighs, in this order.
STATISTICS = ("max", "top 1% mean", "top 10% mean", "mean")


def pooled_statistics(probabilities, xp=jnp):
  """[batch, H, W] probabilities -> [batch, len(STATISTICS)] float32: the max, the
  mean of the highest 1% and 10% of the pixels (at least one), and the mean.

  `xp` is jax.numpy inside the model and numpy on the host, where a map of every
  image's own size would otherwise compile the sort once per size."""
  flat = xp.asarray(probabilities, xp.float32).reshape(probabilities.shape[0], -1)
  ranked = -xp.sort(-flat, axis=1)  # descending
  count = flat.shape[1]
  top = [xp.mean(ranked[:, : max(1, count * percent // 100)], axis=1) for percent in (1, 10)]
  return xp.stack([ranked[:, 0], *top, xp.mean(flat, axis=1)], axis=1)


class PooledImageHead(nn.Module):
  """probabilities [batch, H, W] -> image logits [batch]: a logistic regression
  on pooled_statistics, starting at probability 0.5 for every image."""

  @nn.compact
  def __call__(self, probabilities):
    """[batch, H, W] -> [batch] logits of "edited"."""
    dense = nn.Dense(1, kernel_init=nn.initializers.zeros, name="logistic")
    return dense(pooled_statistics(probabilities))[:, 0]

"""NCL's two losses: the non-mutually exclusive contrastive loss and the
pivot-consistent (contour-weighted) BCE. Formulas: docs/method.md.

Everything is computed in log space with masks; empty sets give 0, never NaN.
"""

import functools

import jax
import jax.numpy as jnp
import optax

from ncl_jax.models.image_head import STATISTICS, pooled_statistics

CONTOUR_ROLES = ("switch", "alternate", "positive", "negative", "drop")
# Finite stand-in for log(0): exp() of it underflows to exactly 0 and, unlike
# -inf, never produces NaN in a gradient.
_LOG_ZERO = -1e9


def _cosine_logits(anchors, keys, temperature):
  """[n, d], [m, d] -> [n, m] cosine similarity / temperature."""
  anchors = anchors * jax.lax.rsqrt(jnp.sum(anchors**2, -1, keepdims=True) + 1e-12)
  keys = keys * jax.lax.rsqrt(jnp.sum(keys**2, -1, keepdims=True) + 1e-12)
  return anchors @ keys.T / temperature


def _masked_mean(values, mask):
  """Mean of values where mask; 0 where mask is empty."""
  total = jnp.sum(jnp.where(mask, values, 0.0))
  return total / jnp.maximum(jnp.sum(mask), 1)


def _term_sums(
  anchors,
  anchors_valid,
  positives,
  positives_valid,
  negatives,
  negatives_valid,
  temperature,
  self_offset=None,
):
  """(sum, count) over valid (anchor a, positive p) pairs of
  -log[ e(a,p) / (e(a,p) + sum_n e(a,n)) ], with e(x,y) = exp(cos(x,y) / tau).

  `self_offset`: when the anchors are positives themselves, the index of anchor 0
  among the positives; the pairs (m, m) are then excluded.
  """
  positive_logits = _cosine_logits(anchors, positives, temperature)  # [n_a, n_p]
  negative_logits = _cosine_logits(anchors, negatives, temperature)  # [n_a, n_n]
  negative_logits = jnp.where(negatives_valid[None, :], negative_logits, _LOG_ZERO)
  log_negatives = jax.nn.logsumexp(negative_logits, axis=1, keepdims=True)  # [n_a, 1]
  per_pair = jnp.logaddexp(positive_logits, log_negatives) - positive_logits
  pair_mask = anchors_valid[:, None] & positives_valid[None, :]
  if self_offset is not None:
    anchor_index = jnp.arange(anchors.shape[0])[:, None] + self_offset
    pair_mask &= anchor_index != jnp.arange(positives.shape[0])[None, :]
  return jnp.sum(jnp.where(pair_mask, per_pair, 0.0)), jnp.sum(pair_mask)


def contrastive_term(
  anchors,
  anchors_valid,
  positives,
  positives_valid,
  negatives,
  negatives_valid,
  temperature,
  exclude_self=False,
  axis_name=None,
):
  """Mean over valid (anchor, positive) pairs (see _term_sums); 0 without pairs.

  anchors [n_a, d], positives [n_p, d], negatives [n_n, d], each with a bool
  validity mask of its leading size. `exclude_self` drops the pairs (m, m), for
  anchors that are the positives themselves. With `axis_name` (inside shard_map)
  each device holds its local anchors, positives and negatives: the keys are
  all-gathered, so every anchor meets the whole global batch while memory per
  device stays local_anchors x global_keys, and the sums are added over devices.
  """
  self_offset = 0 if exclude_self else None
  if axis_name is not None:
    if exclude_self:
      self_offset = jax.lax.axis_index(axis_name) * anchors.shape[0]
    gather = functools.partial(jax.lax.all_gather, axis_name=axis_name, tiled=True)
    positives, positives_valid = gather(positives), gather(positives_valid)
    negatives, negatives_valid = gather(negatives), gather(negatives_valid)
  total, count = _term_sums(
    anchors,
    anchors_valid,
    positives,
    positives_valid,
    negatives,
    negatives_valid,
    temperature,
    self_offset,
  )
  if axis_name is not None:
    total, count = jax.lax.psum((total, count), axis_name)
  return total / jnp.maximum(count, 1)


def ncl_loss(
  tampered,
  tampered_valid,
  authentic,
  authentic_valid,
  se_pos,
  se_neg,
  se_valid,
  temperature,
  contour_role="switch",
  step=0,
  axis_name=None,
):
  """L_NCL = L_tam + L_pos + L_neg (the negated log-likelihoods of the paper).

  Args:
    tampered: [n_t, d] tampered patch features (pooled over the batch).
    tampered_valid: bool [n_t].
    authentic: [n_a, d] authentic patch features; authentic_valid: bool [n_a].
    se_pos, se_neg: [n_img, d] pivot outputs; se_valid: bool [n_img], True for
      images that have contour patches.
    temperature: tau.
    contour_role: one of CONTOUR_ROLES (see docs/method.md).
    step: training step; `alternate` uses L_pos on even and L_neg on odd steps.
    axis_name: inside shard_map over the batch, the mesh axis: every argument is
      then this device's shard, and the loss is that of the global batch.

  Returns:
    dict of scalars `total`, `tampered`, `hard_positive`, `hard_negative`; a term
    that the contour role switches off is reported as 0.
  """
  if contour_role not in CONTOUR_ROLES:
    raise ValueError(f"contour_role must be one of {CONTOUR_ROLES}, got {contour_role!r}")
  term = functools.partial(contrastive_term, temperature=temperature, axis_name=axis_name)
  loss_tampered = term(
    tampered,
    tampered_valid,
    tampered,
    tampered_valid,
    authentic,
    authentic_valid,
    exclude_self=True,
  )
  zero = jnp.zeros((), jnp.float32)
  hard_positive = hard_negative = zero
  if contour_role in ("switch", "alternate", "positive"):
    hard_positive = term(se_pos, se_valid, tampered, tampered_valid, authentic, authentic_valid)
  if contour_role in ("switch", "alternate", "negative"):
    hard_negative = term(se_neg, se_valid, authentic, authentic_valid, tampered, tampered_valid)
  if contour_role == "alternate":
    even = jnp.asarray(step) % 2 == 0
    hard_positive = jnp.where(even, hard_positive, zero)
    hard_negative = jnp.where(even, zero, hard_negative)
  return {
    "total": loss_tampered + hard_positive + hard_negative,
    "tampered": loss_tampered,
    "hard_positive": hard_positive,
    "hard_negative": hard_negative,
  }


def _as_map(x):
  """[batch, h, w] or [batch, h, w, 1] -> float32 [batch, h, w]."""
  x = jnp.asarray(x, jnp.float32)
  return x[..., 0] if x.ndim == 4 else x


def downsample_to(x, spatial_shape, reduce):
  """Reduce [batch, H, W] by an integer factor with `reduce` (jnp.mean or jnp.max)."""
  batch, height, width = x.shape
  out_h, out_w = spatial_shape
  if height % out_h or width % out_w:
    raise ValueError(f"cannot reduce {height}x{width} to {out_h}x{out_w} by an integer factor")
  fh, fw = height // out_h, width // out_w
  if fh == fw == 1:
    return x
  return reduce(x.reshape(batch, out_h, fh, out_w, fw), axis=(2, 4))


def pivot_consistent_loss(logits, mask, contour_mask, mu):
  """L_PC,s = mu * mean_contour BCE + (1 - mu) * mean_other BCE for one output map.

  Args:
    logits: [batch, h, w, 1] or [batch, h, w], one output stage.
    mask: ground truth {0, 1}, [batch, H, W] or [batch, H, W, 1]; H, W multiples
      of h, w. It is reduced to the stage's size by area averaging (a soft target
      equal to the manipulated fraction of each stage pixel).
    contour_mask: contour-patch pixels at the mask's size; a stage pixel is a
      contour pixel if any of its input pixels is.
    mu: weight of the contour pixels.

  Returns:
    scalar; both means pool all pixels of the batch, an empty one contributes 0.
  """
  logits = _as_map(logits)
  target = downsample_to(_as_map(mask), logits.shape[1:], jnp.mean)
  contour = downsample_to(_as_map(contour_mask), logits.shape[1:], jnp.max) > 0.5
  bce = optax.sigmoid_binary_cross_entropy(logits, target)
  return mu * _masked_mean(bce, contour) + (1.0 - mu) * _masked_mean(bce, ~contour)


def dice_loss(logits, mask, smooth=1.0):
  """Soft Dice loss of one output map, per image, averaged over the batch:
  1 - (2 sum(p g) + smooth) / (sum(p) + sum(g) + smooth), p = sigmoid(logits).

  Beyond the paper (`pc.dice_weight`, docs/method.md): it scores each image's
  overlap, as pixel F1 does, so a small edit counts as much as a large one; with
  `smooth` an untouched image (g = 0) is pushed towards predicting nothing.

  Args:
    logits: [batch, h, w, 1] or [batch, h, w].
    mask: ground truth {0, 1}, [batch, H, W] or [batch, H, W, 1]; H, W multiples
      of h, w (area-averaged to the map's size, as in pivot_consistent_loss).

  Returns:
    scalar.
  """
  logits = _as_map(logits)
  target = downsample_to(_as_map(mask), logits.shape[1:], jnp.mean)
  probability = jax.nn.sigmoid(logits)
  overlap = jnp.sum(probability * target, axis=(1, 2))
  total = jnp.sum(probability, axis=(1, 2)) + jnp.sum(target, axis=(1, 2))
  return jnp.mean(1.0 - (2.0 * overlap + smooth) / (total + smooth))


def top_pixels_bce(logits, mask):
  """Binary cross-entropy between the mean probability of each map's highest 1% of
  pixels (at least one: the image head's "top 1% mean") and whether its image is
  edited, averaged over the batch.

  Beyond the paper (`pc.map_image_weight`, docs/method.md): the image score reads
  the top of the map, so this trains that read as MVSS-Net trains its image
  decision from the map's max; an untouched image's false alarms get a gradient
  that the Dice term, near an empty target, hardly gives.

  Args:
    logits: [batch, h, w, 1] or [batch, h, w].
    mask: ground truth {0, 1}, [batch, H, W] or [batch, H, W, 1]; an image is
      edited where it has a positive.

  Returns:
    scalar.
  """
  probability = jax.nn.sigmoid(_as_map(logits))
  top = pooled_statistics(probability)[:, STATISTICS.index("top 1% mean")]
  edited = jnp.max(_as_map(mask).reshape(mask.shape[0], -1), axis=1)
  top = jnp.clip(top, 1e-6, 1.0 - 1e-6)
  return -jnp.mean(edited * jnp.log(top) + (1.0 - edited) * jnp.log1p(-top))

"""The training objective, L = omega * L_NCL + sum over output maps of L_PC
(+ a Dice loss of the final map where `pc.dice_weight` > 0, a binary cross-entropy
of its top pixels against "edited" where `pc.map_image_weight` > 0; docs/method.md):
everything from the ground-truth mask and the model's outputs to the total loss.

A training step reads in one direction:

  targets = objective.make_targets(mask, rng, config)   # patch categories and samples
  outputs = model.apply(variables, images, *objective.pivot_inputs(targets), train=True)
  terms = objective.compute_loss(outputs, targets, config, step, mesh)   # terms["loss"]
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.sharding import PartitionSpec as P

from ncl_jax.method import losses, patches
from ncl_jax.models.patch_features import gather_patches


class Targets(NamedTuple):
  """What a batch's ground truth contributes to the objective."""

  mask: jnp.ndarray  # float32 [batch, H, W] in {0, 1}
  patches: patches.SampledPatches


class ContrastiveInputs(NamedTuple):
  """The sets L_NCL contrasts, every leaf with the batch (or a multiple) leading,
  so one partition spec shards them all."""

  tampered: jnp.ndarray  # [batch * n, d] sampled tampered patch features
  tampered_valid: jnp.ndarray  # bool [batch * n]
  authentic: jnp.ndarray  # [batch * n, d]
  authentic_valid: jnp.ndarray  # bool [batch * n]
  se_pos: jnp.ndarray  # [batch, d] pivot outputs (hard positives)
  se_neg: jnp.ndarray  # [batch, d] (hard negatives)
  se_valid: jnp.ndarray  # bool [batch]: images with contour patches


def make_targets(mask, rng, config) -> Targets:
  """mask [batch, H, W] (any dtype, {0, 1}) and a key -> Targets for this step."""
  mask = mask.astype(jnp.float32)
  sampled = patches.sample_patches(
    mask, rng, config.patch_size, config.ncl.max_patches_per_class, config.ncl.max_contour_patches
  )
  return Targets(mask, sampled)


def pivot_inputs(targets: Targets):
  """(contour_index, contour_valid): the contour slots the model's pivot branches mix."""
  return targets.patches.contour.index, targets.patches.contour.valid


def _pooled(patch_features, sample: patches.PatchSample):
  """Sampled patches of every image as one set: [batch * n, d], [batch * n]."""
  features = gather_patches(patch_features, sample.index)
  return features.reshape(-1, features.shape[-1]), sample.valid.reshape(-1)


def contrastive_inputs(outputs, sampled: patches.SampledPatches) -> ContrastiveInputs:
  """The pooled tampered and authentic patch features (and their validity) of a batch."""
  tampered, tampered_valid = _pooled(outputs["patch_features"], sampled.tampered)
  authentic, authentic_valid = _pooled(outputs["patch_features"], sampled.authentic)
  return ContrastiveInputs(
    tampered,
    tampered_valid,
    authentic,
    authentic_valid,
    outputs["se_pos"],
    outputs["se_neg"],
    outputs["se_valid"],
  )


def ncl_terms(inputs: ContrastiveInputs, config, step, mesh=None) -> dict:
  """L_NCL over the global batch. On a mesh of several devices it runs under
  shard_map: each device's anchors meet the all-gathered keys of every device."""

  def loss(inputs, step, axis_name=None):
    return losses.ncl_loss(
      *inputs, config.ncl.temperature, config.ncl.contour_role, step, axis_name=axis_name
    )

  if mesh is None or mesh.size == 1:
    return loss(inputs, step)
  sharded = jax.shard_map(
    functools.partial(loss, axis_name="data"), mesh=mesh, in_specs=(P("data"), P()), out_specs=P()
  )
  return sharded(inputs, step)


def pivot_consistent_terms(outputs, targets: Targets, config) -> dict:
  """L_PC at the final map and at every auxiliary map, and their sum."""
  contour_pixels = patches.contour_pixel_mask(targets.patches.categories, config.patch_size)
  mu = config.pc.mu
  if config.pc.mode == "bce":  # the ablation baseline: every pixel weighted alike
    contour_pixels, mu = jnp.zeros_like(contour_pixels), 0.0
  maps = {"final": outputs["logits"], **outputs["aux_logits"]}
  terms = {
    f"pc_{name}": losses.pivot_consistent_loss(logits, targets.mask, contour_pixels, mu)
    for name, logits in maps.items()
  }
  terms["pc_total"] = sum(terms[f"pc_{name}"] for name in maps)
  return terms


def dice_terms(outputs, targets: Targets, config) -> dict:
  """The soft Dice loss of the final map (beyond the paper), where its weight is > 0."""
  if config.pc.dice_weight <= 0:
    return {}
  return {"dice_final": losses.dice_loss(outputs["logits"], targets.mask)}


def map_image_terms(outputs, targets: Targets, config) -> dict:
  """The binary cross-entropy of the final map's top pixels against "edited" (beyond
  the paper), where its weight is > 0."""
  if config.pc.map_image_weight <= 0:
    return {}
  return {"map_image_bce": losses.top_pixels_bce(outputs["logits"], targets.mask)}


def image_terms(outputs, targets: Targets) -> dict:
  """The binary cross-entropy of the image-level decision (beyond the paper), where
  the model has one: an image is edited where its mask has a positive."""
  if "image_logits" not in outputs:
    return {}
  edited = jnp.max(targets.mask, axis=(1, 2))
  return {
    "image_bce": jnp.mean(optax.sigmoid_binary_cross_entropy(outputs["image_logits"], edited))
  }


def compute_loss(outputs, targets: Targets, config, step, mesh=None) -> dict:
  """omega * L_NCL + L_PC (+ pc.dice_weight * Dice, + pc.map_image_weight * the
  map's top pixels' BCE, + pc.image_weight * the image decision's BCE) as `loss`,
  with every term for logging."""
  terms = {}
  if config.ncl.weight > 0:
    ncl = ncl_terms(contrastive_inputs(outputs, targets.patches), config, step, mesh)
    terms.update({f"ncl_{k}": v for k, v in ncl.items()})
  terms.update(pivot_consistent_terms(outputs, targets, config))
  terms.update(dice_terms(outputs, targets, config))
  terms.update(map_image_terms(outputs, targets, config))
  terms.update(image_terms(outputs, targets))
  terms["loss"] = (
    config.ncl.weight * terms.get("ncl_total", 0.0)
    + terms["pc_total"]
    + config.pc.dice_weight * terms.get("dice_final", 0.0)
    + config.pc.map_image_weight * terms.get("map_image_bce", 0.0)
    + config.pc.image_weight * terms.get("image_bce", 0.0)
  )
  return terms

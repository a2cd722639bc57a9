"""Flax Linen modules of NCL."""

import jax
import jax.numpy as jnp

from ncl_jax.models.ncl import NCLModel
from ncl_jax.models.resnet import RESNET_LAYOUTS, ResNet

_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def create_model(model_config, patch_size: int) -> NCLModel:
  """NCLModel from the `model` section of a config."""
  return NCLModel(
    depth=model_config.depth,
    width=model_config.width,
    output_stride=model_config.output_stride,
    patch_size=patch_size,
    aspp_channels=model_config.aspp_channels,
    low_level_channels=model_config.low_level_channels,
    decoder_channels=model_config.decoder_channels,
    dtype=_DTYPES[model_config.dtype],
    aspp_dropout=model_config.aspp_dropout,
    decoder_dropouts=tuple(model_config.decoder_dropouts),
    multi_grid=tuple(model_config.multi_grid),
    zero_init_residual=model_config.zero_init_residual,
    head_init=model_config.head_init,
    conv_impl=model_config.conv_impl,
    noise_residuals=model_config.noise_residuals,
    constrained_residuals=model_config.constrained_residuals,
    decoder_aux_head=model_config.decoder_aux_head,
    image_head=model_config.image_head,
  )


def init_variables(model: NCLModel, config, rng) -> dict:
  """Random {"params", "batch_stats"} of `model` for `config`'s input size (the
  initializers alone: the forward pass that gives their shapes is never computed)."""
  size, slots = config.image_size, config.ncl.max_contour_patches
  return model.lazy_init(
    rng,
    jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32),
    jax.ShapeDtypeStruct((1, slots), jnp.int32),
    jax.ShapeDtypeStruct((1, slots), bool),
    train=False,
  )


def abstract_variables(model: NCLModel, config, sharding) -> dict:
  """{"params", "batch_stats"} shapes and dtypes of `model`, placed with `sharding`
  (what a checkpoint is restored into)."""
  shapes = jax.eval_shape(lambda rng: init_variables(model, config, rng), jax.random.PRNGKey(0))
  return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), shapes)


__all__ = [
  "NCLModel",
  "ResNet",
  "RESNET_LAYOUTS",
  "abstract_variables",
  "create_model",
  "init_variables",
]

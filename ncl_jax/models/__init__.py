"""Flax Linen modules of NCL."""

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
  )


__all__ = ["NCLModel", "ResNet", "RESNET_LAYOUTS", "create_model"]

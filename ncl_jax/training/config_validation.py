"""Checks a config before anything is built or compiled; errors name the key."""

import jax

from ncl_jax.data import DATASET_NAMES
from ncl_jax.input.imaging import MASK_SIZE_POLICIES
from ncl_jax.input.input_pipeline import EVAL_PROTOCOLS
from ncl_jax.method.losses import CONTOUR_ROLES
from ncl_jax.models.conv import CONV_IMPLS
from ncl_jax.models.resnet import RESNET_LAYOUTS
from ncl_jax.serving.prediction import PREDICTION_VIEWS
from ncl_jax.synthesis.recipe import SynthesisConfig


class ConfigError(ValueError):
  """A configuration value that cannot work."""


def _check(condition, message):
  if not condition:
    raise ConfigError(message)


def validate_config(config, num_devices=None):
  """Raise ConfigError naming the first bad key; returns the config."""
  num_devices = num_devices or jax.device_count()
  _check(
    config.dataset.name in DATASET_NAMES,
    f"dataset.name={config.dataset.name!r} is unknown; known: {', '.join(DATASET_NAMES)}",
  )
  if "synthesis" in config.dataset:
    try:
      SynthesisConfig.from_config(config.dataset.synthesis)
    except (TypeError, ValueError) as error:
      raise ConfigError(f"dataset.synthesis: {error}") from error
  _check(
    config.model.depth in RESNET_LAYOUTS,
    f"model.depth={config.model.depth} must be one of {sorted(RESNET_LAYOUTS)}",
  )
  _check(
    config.model.output_stride in (8, 16),
    f"model.output_stride={config.model.output_stride} must be 8 or 16",
  )
  _check(config.model.width > 0, f"model.width={config.model.width} must be positive")
  _check(
    config.model.dtype in ("float32", "bfloat16"),
    f"model.dtype={config.model.dtype!r} must be 'float32' or 'bfloat16'",
  )
  _check(
    0.0 <= config.model.aspp_dropout < 1.0,
    f"model.aspp_dropout={config.model.aspp_dropout} must be in [0, 1)",
  )
  _check(
    len(config.model.decoder_dropouts) == 2
    and all(0.0 <= rate < 1.0 for rate in config.model.decoder_dropouts),
    f"model.decoder_dropouts={tuple(config.model.decoder_dropouts)} must be two rates "
    "in [0, 1) (one after each of the decoder's 3x3 convs)",
  )
  _check(
    len(config.model.multi_grid) > 0
    and all(int(g) == g and g >= 1 for g in config.model.multi_grid),
    f"model.multi_grid={tuple(config.model.multi_grid)} must be positive integers",
  )
  _check(
    config.model.conv_impl in CONV_IMPLS,
    f"model.conv_impl={config.model.conv_impl!r} must be one of {CONV_IMPLS}",
  )
  _check(
    config.model.head_init in ("fan_in", "fan_out"),
    f"model.head_init={config.model.head_init!r} must be 'fan_in' or 'fan_out'",
  )
  _check(
    config.optimizer.head_lr_multiplier > 0,
    f"optimizer.head_lr_multiplier={config.optimizer.head_lr_multiplier} must be > 0",
  )
  _check(
    config.patch_size > 0 and config.patch_size % 4 == 0,
    f"patch_size={config.patch_size} must be a positive multiple of 4 "
    "(the patch features come from the stride-4 map)",
  )
  for divisor, key in (
    (config.patch_size, "patch_size"),
    (config.model.output_stride, "model.output_stride"),
  ):
    _check(
      config.image_size % divisor == 0,
      f"image_size={config.image_size} is not a multiple of {key}={divisor}",
    )
  _check(
    config.batch_size > 0 and config.batch_size % num_devices == 0,
    f"batch_size={config.batch_size} must be a positive multiple of the {num_devices} devices",
  )
  # Any eval_batch_size works: evaluation pads each batch to a multiple of the devices.
  _check(config.eval_batch_size > 0, f"eval_batch_size={config.eval_batch_size} must be > 0")
  for key in ("num_epochs", "eval_every_epochs"):
    _check(config[key] >= 0, f"{key}={config[key]} must be >= 0 (0: use the step count)")
  for key in (
    "num_train_steps",
    "log_every_steps",
    "eval_every_steps",
    "checkpoint_every_steps",
    "keep_checkpoints",
  ):
    _check(config[key] > 0, f"{key}={config[key]} must be positive")
  _check(
    config.ncl.contour_role in CONTOUR_ROLES,
    f"ncl.contour_role={config.ncl.contour_role!r} must be one of {CONTOUR_ROLES}",
  )
  _check(config.ncl.temperature > 0, f"ncl.temperature={config.ncl.temperature} must be > 0")
  _check(config.ncl.weight >= 0, f"ncl.weight={config.ncl.weight} must be >= 0")
  for key in ("max_contour_patches", "max_patches_per_class"):
    _check(config.ncl[key] >= 1, f"ncl.{key}={config.ncl[key]} must be >= 1")
  _check(0.0 <= config.pc.mu <= 1.0, f"pc.mu={config.pc.mu} must be in [0, 1]")
  _check(config.pc.mode in ("pivot", "bce"), f"pc.mode={config.pc.mode!r} must be 'pivot' or 'bce'")
  _check(config.pc.dice_weight >= 0, f"pc.dice_weight={config.pc.dice_weight} must be >= 0")
  _check(
    config.optimizer.name in ("sgd", "adamw"),
    f"optimizer.name={config.optimizer.name!r} must be 'sgd' or 'adamw'",
  )
  _check(
    config.optimizer.learning_rate > 0,
    f"optimizer.learning_rate={config.optimizer.learning_rate} must be > 0",
  )
  _check(
    config.input.train_crop in ("resize", "random_crop"),
    f"input.train_crop={config.input.train_crop!r} must be 'resize' or 'random_crop'",
  )
  for section, key in (
    ("model", "noise_residuals"),
    ("input", "random_flip"),
    ("input", "random_rotate"),
  ):
    _check(
      isinstance(config[section][key], bool),
      f"{section}.{key}={config[section][key]!r} must be True or False",
    )
  _check(
    isinstance(config.model.constrained_residuals, int)
    and not isinstance(config.model.constrained_residuals, bool)
    and config.model.constrained_residuals >= 0,
    f"model.constrained_residuals={config.model.constrained_residuals!r} must be an "
    "integer >= 0 (the number of learned filters)",
  )
  _check(
    config.input.mask_cache_mb >= 0,
    f"input.mask_cache_mb={config.input.mask_cache_mb} must be >= 0 (0: no cache)",
  )
  _check(
    config.input.prefetch_to_device >= 0,
    f"input.prefetch_to_device={config.input.prefetch_to_device} must be >= 0",
  )
  _check(
    config.eval_protocol in EVAL_PROTOCOLS,
    f"eval_protocol={config.eval_protocol!r} must be one of {EVAL_PROTOCOLS}",
  )
  _check(
    config.prediction_views in PREDICTION_VIEWS,
    f"prediction_views={config.prediction_views!r} must be one of {PREDICTION_VIEWS}",
  )
  _check(
    0.0 < config.image_score_quantile <= 1.0,
    f"image_score_quantile={config.image_score_quantile} must be in (0, 1]",
  )
  _check(
    config.nan_policy in ("stop", "skip"),
    f"nan_policy={config.nan_policy!r} must be 'stop' or 'skip'",
  )
  _check(
    config.input.mask_size_policy in MASK_SIZE_POLICIES,
    f"input.mask_size_policy={config.input.mask_size_policy!r} must be one of {MASK_SIZE_POLICIES}",
  )
  return config

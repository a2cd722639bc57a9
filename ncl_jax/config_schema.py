"""The config schema: every key's default, its check and its legacy default, in one
place.

`default_config()` is the paper's recipe (configs/default.py returns it; the other
configs override what differs). `validate_config` checks a config section by section
before anything is built or compiled, and its errors name the key. A key added after
checkpoints were first written has a legacy default: the behaviour of the code before
it, with which a saved config that lacks the key is read, so a checkpoint restores
into the network it was trained with.

Serving imports this module, so it imports no training code: the values a key may
take that are defined by another module ("module:NAME") are imported when a config
is validated.
"""

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any, NamedTuple

import ml_collections


class ConfigError(ValueError):
  """A configuration value that cannot work."""


class Check(NamedTuple):
  """A predicate on a key's value and what it requires, for the error message."""

  accepts: Callable[[Any], bool]
  requirement: Callable[[], str]  # what a value must be, for the error message


_NO_LEGACY = object()


@dataclasses.dataclass(frozen=True)
class Key:
  """A config key: its default, its check, and its legacy default (if it has one)."""

  default: Any
  check: Check | None = None
  legacy: Any = _NO_LEGACY  # the value of configs saved before the key existed


def _number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def greater_than(low) -> Check:
  """A number above `low`."""
  return Check(lambda v: _number(v) and v > low, lambda: f"must be > {low}")


def at_least(low, integer=False) -> Check:
  """A number (an integer if `integer`) at or above `low`."""

  def accepts(value):
    is_integer = isinstance(value, int) and not isinstance(value, bool)
    return (is_integer if integer else _number(value)) and value >= low

  kind = "an integer " if integer else ""
  return Check(accepts, lambda: f"must be {kind}>= {low}")


def in_range(low, high, high_open=False, low_open=False) -> Check:
  """A number between `low` and `high`, each end closed unless said open."""

  def accepts(value):
    if not _number(value):
      return False
    return (value > low if low_open else value >= low) and (
      value < high if high_open else value <= high
    )

  brackets = ("(" if low_open else "[", ")" if high_open else "]")
  return Check(accepts, lambda: f"must be in {brackets[0]}{low}, {high}{brackets[1]}")


def _resolve(values) -> tuple:
  """A tuple, or "module:NAME" of one, imported now."""
  if isinstance(values, str):
    module, name = values.split(":")
    return tuple(getattr(importlib.import_module(module), name))
  return tuple(values)


def one_of(values) -> Check:
  """`values`: a tuple, or "module:NAME" of one (imported when checked)."""
  return Check(lambda v: v in _resolve(values), lambda: f"must be one of {_resolve(values)}")


def known_name(values) -> Check:
  """A name among `values` (as one_of), for registries of names."""
  return Check(
    lambda v: v in _resolve(values), lambda: f"is unknown; known: {', '.join(_resolve(values))}"
  )


BOOLEAN = Check(lambda v: isinstance(v, bool), lambda: "must be True or False")
TEXT = Check(lambda v: isinstance(v, str), lambda: "must be a string")
POSITIVE = greater_than(0)
NON_NEGATIVE = at_least(0)
RATE = in_range(0, 1, high_open=True)
TWO_RATES = Check(
  lambda v: len(v) == 2 and all(_number(r) and 0.0 <= r < 1.0 for r in v),
  lambda: "must be two rates in [0, 1) (one after each of the decoder's 3x3 convs)",
)
POSITIVE_INTEGERS = Check(
  lambda v: len(v) > 0 and all(_number(g) and int(g) == g and g >= 1 for g in v),
  lambda: "must be positive integers",
)
QUALITY_RANGE = Check(
  lambda v: len(v) == 2 and all(_number(q) and int(q) == q for q in v) and 1 <= v[0] <= v[1] <= 100,
  lambda: "must be two JPEG qualities (low, high) in [1, 100]",
)
KERNEL_RANGE = Check(
  lambda v: len(v) == 2 and all(_number(k) and int(k) == k for k in v) and 1 <= v[0] <= v[1],
  lambda: "must be two kernel sizes (low, high), an odd one between them",
)
OPEN = None  # a section whose keys depend on another value (a builder's options)

SCHEMA = {
  "seed": Key(0, at_least(0, integer=True)),
  "num_train_steps": Key(30_000, POSITIVE),
  # A schedule in epochs of the training split, where > 0 (turned into steps once the
  # dataset is built; config.json records the steps): the benchmark configs use these.
  "num_epochs": Key(0.0, NON_NEGATIVE),
  "eval_every_epochs": Key(0.0, NON_NEGATIVE),
  "batch_size": Key(16, POSITIVE),  # global, over all devices and hosts
  # Any eval_batch_size works: evaluation pads each batch to a multiple of the devices.
  "eval_batch_size": Key(16, POSITIVE),
  "image_size": Key(512, POSITIVE),
  "patch_size": Key(16, POSITIVE),  # (choice) not stated in the paper
  "log_every_steps": Key(50, POSITIVE),
  "eval_every_steps": Key(2_000, POSITIVE),
  "checkpoint_every_steps": Key(1_000, POSITIVE),
  "keep_checkpoints": Key(3, POSITIVE),  # the latest N, plus the best by validation pixel F1
  "eval_threshold": Key(0.5, in_range(0, 1)),
  "eval_at_original_size": Key(True, BOOLEAN),  # else at image_size (masks resized, nearest)
  # "ncl": the metrics of ncl_jax/metrics.py; "imdlbenco": IMDL-BenCo's evaluator at
  # 512x512, "imdlbenco_pad": padded to 1024x1024 with its shape mask. A test dataset
  # may set its own.
  "eval_protocol": Key("ncl", one_of("ncl_jax.input.input_pipeline:EVAL_PROTOCOLS")),
  # The image-level score under the "ncl" protocol and in predict: this quantile of the
  # probability map (1.0: its max, as the papers score a segmentation model).
  "image_score_quantile": Key(1.0, in_range(0, 1, low_open=True), legacy=1.0),
  # Predictions (validation, test, predict) average the model over this many flips
  # and transposes of the image: 1 (the paper), 2, 4 or 8.
  "prediction_views": Key(1, one_of("ncl_jax.serving.prediction:PREDICTION_VIEWS"), legacy=1),
  # How `Predictor` and `ncl_jax.predict` map an image to the network by default
  # (serving/predictor.py): "resize" as training resizes, "sliding" full-resolution
  # windows (for models trained on native crops), or "auto".
  "prediction_strategy": Key(
    "resize", one_of("ncl_jax.serving.predictor:STRATEGIES"), legacy="resize"
  ),
  "num_summary_images": Key(4, NON_NEGATIVE),  # validation pictures in TensorBoard
  "nan_policy": Key("stop", one_of(("stop", "skip"))),  # non-finite loss: stop or skip the step
  "dataset": {
    "name": Key("ncl_synthetic", known_name("ncl_jax.data:DATASET_NAMES")),
    "data_dir": Key("~/tensorflow_datasets", TEXT),
    "manual_dir": Key("", TEXT),
    "train_split": Key("train", TEXT),
    "eval_split": Key("validation", TEXT),  # model selection (best checkpoint); "" for none
    "test_split": Key("test", TEXT),  # evaluated once, with the best checkpoint; "" for none
    "options": Key(OPEN),  # builder-specific
  },
  # More datasets evaluated at the end with the best checkpoint, each a ConfigDict
  # of name, split (default "test"), manual_dir, data_dir (default dataset.data_dir).
  "test_datasets": Key(OPEN),
  "input": {
    # The paper: "resize" (the whole image to image_size); "random_crop": scaled up to
    # at least image_size, then cropped; "native_crop": cropped at the file's own
    # resolution, reflect-padded where a side is shorter (predict with "sliding").
    "train_crop": Key("resize", one_of("ncl_jax.input.input_pipeline:TRAIN_CROPS")),
    # With "resize": a random square crop of this side of the resized image, so that a
    # step sees the scale predict sees on fewer pixels (0: the whole image).
    "train_crop_size": Key(0, at_least(0, integer=True), legacy=0),
    "random_flip": Key(True, BOOLEAN),
    "random_rotate": Key(False, BOOLEAN, legacy=False),  # quarter turns too (not in the paper)
    "num_workers": Key(0, at_least(0, integer=True)),  # grain processes (0: threads)
    "num_threads": Key(8, POSITIVE),  # grain reader threads per process
    "prefetch_to_device": Key(2, NON_NEGATIVE),  # batches transferred ahead (0: none)
    # Mask size != image size: "resize" (nearest) or "skip" the example.
    "mask_size_policy": Key("resize", one_of("ncl_jax.input.imaging:MASK_SIZE_POLICIES")),
    # Decoded training masks kept per process (MiB; 0: none): at 512 px a mask takes 32 KiB.
    "mask_cache_mb": Key(256, NON_NEGATIVE, legacy=256),
    # Beyond the paper: global post-processing of training images as IMDL-BenCo trains
    # with (input/post_processing.py; 0 switches an operation off): resize by
    # 1 + U(-scale, scale), brightness and contrast, JPEG, Gaussian blur.
    "post_processing": {
      "scale": Key(0.0, in_range(0, 1, high_open=True), legacy=0.0),
      "brightness": Key(0.0, in_range(0, 1), legacy=0.0),
      "contrast": Key(0.0, in_range(0, 1), legacy=0.0),
      "jpeg_probability": Key(0.0, in_range(0, 1), legacy=0.0),
      "jpeg_quality": Key((70, 100), QUALITY_RANGE, legacy=(70, 100)),
      "blur_probability": Key(0.0, in_range(0, 1), legacy=0.0),
      "blur_kernel": Key((3, 7), KERNEL_RANGE, legacy=(3, 7)),
    },
  },
  "model": {
    "depth": Key(101, one_of("ncl_jax.models.resnet:RESNET_LAYOUTS")),
    "width": Key(1.0, POSITIVE),  # channel multiplier, for small test models
    "output_stride": Key(16, one_of((8, 16))),
    "aspp_channels": Key(256, POSITIVE),
    "low_level_channels": Key(48, POSITIVE),
    "decoder_channels": Key(256, POSITIVE),
    # The compute dtype; parameters and losses stay float32.
    "dtype": Key("bfloat16", one_of(("float32", "bfloat16"))),
    # The reference DeepLabV3+ recipe (jfzhang95/pytorch-deeplab-xception; docs/method.md).
    "aspp_dropout": Key(0.5, RATE, legacy=0.0),  # after the ASPP projection
    "decoder_dropouts": Key((0.5, 0.1), TWO_RATES, legacy=(0.0, 0.0)),
    # Stage-4 dilations times the stage's (ResNet-18: 1, 2).
    "multi_grid": Key((1, 2, 4), POSITIVE_INTEGERS, legacy=(1, 1, 1)),
    # True: each block's last BatchNorm scale starts at 0.
    "zero_init_residual": Key(False, BOOLEAN, legacy=True),
    # He init of ASPP, decoder and heads ("fan_out": the backbone's).
    "head_init": Key("fan_in", one_of(("fan_in", "fan_out")), legacy="fan_out"),
    # "auto": convolutions (and the stem's max-pool gradient) in forms XLA:CPU trains
    # faster on the CPU backend, XLA's elsewhere (same parameters and results); "xla":
    # XLA's everywhere. See ncl_jax/models/conv.py and pooling.py.
    "conv_impl": Key("auto", one_of("ncl_jax.models.conv:CONV_IMPLS"), legacy="auto"),
    # Beyond the paper: fixed SRM noise residuals as three more input channels.
    "noise_residuals": Key(False, BOOLEAN, legacy=False),
    # Beyond the paper: this many learned noise residuals (Bayar's constrained 5x5
    # convolutions of the grey level) as more input channels (0: none).
    "constrained_residuals": Key(0, at_least(0, integer=True), legacy=0),
    # The stride-4 auxiliary map: False, the final classifier's logits before they are
    # upsampled (so two pivot-consistent terms supervise one head at two sizes); True,
    # a 1x1 head of its own on the decoder's features (docs/method.md).
    "decoder_aux_head": Key(False, BOOLEAN, legacy=False),
    # Beyond the paper: "pooled", a logistic regression on statistics of the map trained
    # as the image-level decision, whose probability is the image score;
    # "pooled_detached", the same head without a gradient into the map; "none": the
    # image score is `image_score_quantile` of the map.
    "image_head": Key("none", one_of("ncl_jax.models.image_head:IMAGE_HEADS"), legacy="none"),
  },
  "ncl": {
    "weight": Key(0.1, NON_NEGATIVE),  # omega (choice); 0 gives the segmentation baseline
    "temperature": Key(0.1, POSITIVE),  # tau (choice)
    # How contour patches take part: switch | alternate | positive | negative | drop.
    "contour_role": Key("switch", one_of("ncl_jax.method.losses:CONTOUR_ROLES")),
    "max_contour_patches": Key(16, at_least(1)),  # K (choice)
    "max_patches_per_class": Key(128, at_least(1)),  # per image and class (choice)
  },
  "pc": {
    "mu": Key(0.7, in_range(0, 1)),  # weight of contour pixels (choice)
    "mode": Key("pivot", one_of(("pivot", "bce"))),  # the paper, or plain BCE on the outputs
    # Beyond the paper: this weight times a soft Dice loss of the final map (0: none).
    "dice_weight": Key(0.0, NON_NEGATIVE, legacy=0.0),
    # Beyond the paper: this weight times a binary cross-entropy of the mean of the
    # final map's highest 1% of probabilities against "edited" (0: none).
    "map_image_weight": Key(0.0, NON_NEGATIVE, legacy=0.0),
    # The weight of the image-level decision's binary cross-entropy (model.image_head).
    "image_weight": Key(1.0, NON_NEGATIVE, legacy=1.0),
  },
  # Several hosts: "auto" calls jax.distributed.initialize() where JAX can detect the
  # cluster (Cloud TPU pods, Slurm, JAX_COORDINATOR_ADDRESS set); "yes" always, with
  # the keys below when given; "no" never.
  "distributed": {
    "initialize": Key("auto", one_of(("auto", "yes", "no"))),
    "coordinator_address": Key("", TEXT),  # host:port of process 0
    "num_processes": Key(0, at_least(0, integer=True)),
    "process_id": Key(-1, at_least(-1, integer=True)),
  },
  "optimizer": {
    "name": Key("sgd", one_of(("sgd", "adamw"))),  # SGD with momentum (the paper) or AdamW
    "learning_rate": Key(0.007, POSITIVE),
    "momentum": Key(0.9, in_range(0, 1, high_open=True)),
    "weight_decay": Key(5e-4, NON_NEGATIVE),
    "power": Key(0.9, NON_NEGATIVE),  # polynomial decay to 0 over num_train_steps
    "warmup_steps": Key(0, at_least(0, integer=True)),
    "grad_clip_norm": Key(0.0, NON_NEGATIVE),  # 0 disables clipping
    # ASPP, decoder, output heads, pivot branches and learned residual filters train at
    # this multiple of the learning rate (the reference: 10x outside the backbone).
    "head_lr_multiplier": Key(10.0, POSITIVE, legacy=1.0),
  },
}


def _keys(schema=SCHEMA, prefix=""):
  """("section.key", Key) for every key of the schema."""
  for name, entry in schema.items():
    if isinstance(entry, dict):
      yield from _keys(entry, f"{prefix}{name}.")
    else:
      yield prefix + name, entry


def default_config() -> ml_collections.ConfigDict:
  """Every key at its default: the paper's recipe."""

  def build(schema):
    config = ml_collections.ConfigDict()
    for name, entry in schema.items():
      if isinstance(entry, dict):
        config[name] = build(entry)
      else:
        config[name] = ml_collections.ConfigDict() if entry.default is OPEN else entry.default
    return config

  return build(SCHEMA)


LEGACY_DEFAULTS = {key: entry.legacy for key, entry in _keys() if entry.legacy is not _NO_LEGACY}


def with_legacy_defaults(saved: dict) -> dict:
  """A saved config dict with every key of LEGACY_DEFAULTS it lacks added."""
  for key, value in LEGACY_DEFAULTS.items():
    *parents, leaf = key.split(".")
    section = saved
    for parent in parents:
      section = section.setdefault(parent, {})
    section.setdefault(leaf, value)
  return saved


def _check(condition, message):
  if not condition:
    raise ConfigError(message)


def _value(config, key):
  for part in key.split("."):
    _check(part in config, f"{key} is missing from the config")
    config = config[part]
  return config


def validate_config(config, num_devices=None):
  """Raise ConfigError naming the first bad key; returns the config."""
  for key, entry in _keys():
    value = _value(config, key)
    if entry.check is not None:
      _check(entry.check.accepts(value), f"{key}={value!r} {entry.check.requirement()}")
  _validate_across_keys(config, num_devices)
  return config


def _validate_across_keys(config, num_devices):
  """The checks that involve several keys, the devices, or a section's own class."""
  import jax  # noqa: PLC0415  (the device count: only where a config is validated)

  num_devices = num_devices or jax.device_count()
  for section in ("synthesis", "validation_synthesis"):
    if section in config.dataset:
      from ncl_jax.synthesis.recipe import SynthesisConfig  # noqa: PLC0415

      try:
        SynthesisConfig.from_config(config.dataset[section])
      except (TypeError, ValueError) as error:
        raise ConfigError(f"dataset.{section}: {error}") from error
  _check(
    config.input.train_crop == "resize" or not config.input.post_processing.scale,
    "input.post_processing.scale works with input.train_crop='resize' only",
  )
  crop_size = config.input.train_crop_size
  _check(
    not crop_size or (config.input.train_crop == "resize" and crop_size <= config.image_size),
    f"input.train_crop_size={crop_size} needs input.train_crop='resize' and at most "
    f"image_size={config.image_size}",
  )
  low, high = config.input.post_processing.blur_kernel
  _check(
    low | 1 <= high,
    f"input.post_processing.blur_kernel={(low, high)!r} holds no odd kernel size",
  )
  _check(
    config.patch_size % 4 == 0,
    f"patch_size={config.patch_size} must be a positive multiple of 4 "
    "(the patch features come from the stride-4 map)",
  )
  for divisor, key in (
    (config.patch_size, "patch_size"),
    (config.model.output_stride, "model.output_stride"),
  ):
    for size_key, size in (("image_size", config.image_size), ("input.train_crop_size", crop_size)):
      _check(size % divisor == 0, f"{size_key}={size} is not a multiple of {key}={divisor}")
  _check(
    config.batch_size % num_devices == 0,
    f"batch_size={config.batch_size} must be a positive multiple of the {num_devices} devices",
  )

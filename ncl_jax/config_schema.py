"""The config schema."""

# Keys added after checkpoints were first written, with the behaviour of the code
# before them: a saved config without a key is read with this value, so a
# checkpoint restores into the network it was trained with.
LEGACY_DEFAULTS = {
  "model.aspp_dropout": 0.0,
  "model.decoder_dropouts": (0.0, 0.0),
  "model.multi_grid": (1, 1, 1),
  "model.zero_init_residual": True,
  "model.head_init": "fan_out",
  "optimizer.head_lr_multiplier": 1.0,
  "model.conv_impl": "auto",  # the same network and parameters, computed as fast as possible
  "image_score_quantile": 1.0,
  "input.mask_cache_mb": 256,  # the same examples; masks decoded once per process
  "model.noise_residuals": False,
  "input.random_rotate": False,
  "prediction_views": 1,
  "pc.dice_weight": 0.0,
  "model.constrained_residuals": 0,
}


def with_legacy_defaults(saved: dict) -> dict:
  """A saved config dict with every key of LEGACY_DEFAULTS it lacks added."""
  for key, value in LEGACY_DEFAULTS.items():
    *parents, leaf = key.split(".")
    section = saved
    for parent in parents:
      section = section.setdefault(parent, {})
    section.setdefault(leaf, value)
  return saved

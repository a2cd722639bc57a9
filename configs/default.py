"""The paper's recipe: DeepLabV3+ with a ResNet-101 encoder at output stride 16,
512x512 inputs, trained from scratch with SGD + polynomial decay.

Every key, its default (this recipe), what it does and what it may be live in one
place, ncl_jax/config_schema.py. Other configs import this one and override only what
differs; any key can be changed from the command line, e.g.
`--config.ncl.temperature=0.2`.
"""

from ncl_jax import config_schema


def get_config(arg=""):
  """`arg` "runlocal" gives a smoke run (see apply_runlocal)."""
  config = config_schema.default_config()
  if arg == "runlocal":
    apply_runlocal(config)
  return config


def apply_runlocal(config):
  """Shrink any config to a smoke run (tiny model: ResNet-10 at an eighth of its width,
  64 px, a few steps) that checks the whole pipeline in about a minute on a CPU:
  `--config=configs/X.py:runlocal`."""
  config.num_train_steps = 4
  config.batch_size = 4
  config.eval_batch_size = 4
  config.image_size = 64
  config.log_every_steps = 2
  config.eval_every_steps = 4
  config.checkpoint_every_steps = 2
  config.model.depth = 10
  config.model.width = 0.125
  config.model.aspp_channels = 64
  config.model.decoder_channels = 64
  config.ncl.max_patches_per_class = 8
  config.ncl.max_contour_patches = 4
  config.input.num_threads = 1
  config.model.dtype = "float32"  # CPUs are slow in bfloat16
  return config

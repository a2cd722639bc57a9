"""CPU-sized NCL on the built-in synthetic benchmark: ResNet-18 at width 0.25,
128 px, batch 8 x 3,000 AdamW steps, minutes on 2 CPU cores.

  python -m ncl_jax.main --config=configs/synthetic.py --workdir=/tmp/ncl_synthetic

Its results and the ablation study are in the docs (docs/ablations.md).
"""

from configs import default


def get_config(arg=""):
  """The config (`arg` "runlocal": a one-minute smoke run)."""
  config = default.get_config()
  # Batch size, crop and learning rate chosen at equal wall time (docs/ablations.md).
  config.num_train_steps = 3000
  config.batch_size = 8
  config.eval_batch_size = 50
  config.image_size = 128
  config.patch_size = 16
  config.log_every_steps = 50
  config.eval_every_steps = 500
  config.checkpoint_every_steps = 250

  config.dataset.name = "ncl_synthetic"
  # Generation parameters of the synthetic benchmark (see data/ncl_synthetic).
  config.dataset.options.num_train = 2000
  config.dataset.options.num_validation = 200
  config.dataset.options.num_test = 200
  config.dataset.options.image_size = 128
  config.dataset.options.authentic_fraction = 0.2
  config.dataset.options.seed = 0
  config.input.num_threads = 2

  config.model.depth = 18
  config.model.width = 0.25
  config.model.dtype = "float32"  # CPU-sized: bfloat16 is slow on CPUs
  config.ncl.max_patches_per_class = 32  # a 128 px image has 64 patches of 16 px

  config.optimizer.name = "adamw"
  config.optimizer.learning_rate = 2e-3
  config.optimizer.weight_decay = 1e-4
  config.optimizer.warmup_steps = 50
  if arg == "runlocal":
    default.apply_runlocal(config)
  return config

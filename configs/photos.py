r"""NCL trained on forgeries synthesized on the fly from your own photos.

  python -m ncl_jax.main --config=configs/photos.py --workdir=runs/photos \
      --config.dataset.manual_dir=/path/to/photos

Any folder of photos works (searched recursively; anything PIL reads; PNGs with
transparency are used as cut-outs to paste into the others). Without
`manual_dir`, scikit-image's bundled photos are used. The recipe of the
forgeries is `config.dataset.synthesis` (docs/synthesis.md); a share of the photos
(`dataset.options.validation_fraction`, by file name) is held out to select the
best checkpoint on forgeries of photos never trained on.

Sized for a CPU: ResNet-18 at width 0.25, the paper's 512 px, noise residuals beside the
colours, a Dice loss beside the paper's losses, 2,000 steps (its time on 2 cores and
its results are in the docs), and predictions averaged over the
image's 8 flips and transposes. Evaluate the best checkpoint
on real edited photos, an IMDL-BenCo folder (Tp/, Gt/) or JSON list:

  --config.test_datasets.real.manual_dir=/path/to/test.json

On an accelerator, the paper's network at 512 px in bfloat16 (docs/synthesis.md):

  --config.image_size=512 --config.model.depth=101 --config.model.width=1.0 \
  --config.model.dtype=bfloat16 --config.batch_size=32 --config.input.num_workers=12 \
  --config.dataset.synthesis.camera_long_side='(512, 2048)'
"""

import dataclasses

import ml_collections

from configs import default
from ncl_jax.synthesis import SynthesisConfig
from ncl_jax.synthesis.dataset import DEFAULT_OPTIONS

# A real photo's max probability is one pixel of texture as often as an edit: the
# image score is the map's 99.5th percentile instead (docs/synthesis.md). Release
# configs built on photos-v1's 0.99 take it from here (configs/photos_v5.py).
IMAGE_SCORE_QUANTILE = 0.995


def get_config(arg=""):
  """The config (`arg` "runlocal": a one-minute smoke run)."""
  config = default.get_config()
  # CPU-sized: a quarter-width ResNet-18 at the paper's 512 px, so that the traces an
  # edit leaves are seen at the resolution of the photo's own resampling.
  config.num_train_steps = 2000
  config.batch_size = 8
  config.eval_batch_size = 16
  config.image_size = 512
  config.log_every_steps = 100
  config.eval_every_steps = 500
  config.checkpoint_every_steps = 500

  config.dataset.name = "photo_forgeries"
  config.dataset.manual_dir = ""  # your photo folder ("": scikit-image's photos)
  config.dataset.eval_split = "validation"  # forgeries of held-out photos
  config.dataset.test_split = ""  # real test sets go in test_datasets
  # A slot for your own edited photos (IMDL-BenCo folder or JSON list): set its
  # manual_dir to evaluate on them; left empty, it is skipped.
  config.test_datasets.real = ml_collections.ConfigDict(
    {
      "name": "iml_folder",
      "split": "full",
      "manual_dir": "",
      "data_dir": "",
      "options": {"folder_name": "real"},
    }
  )
  config.dataset.options = ml_collections.ConfigDict(DEFAULT_OPTIONS)
  config.dataset.options.num_validation = 100
  config.dataset.synthesis = ml_collections.ConfigDict(dataclasses.asdict(SynthesisConfig()))
  # CPU-sized: the "camera" images at 320-1280 px (larger ones cost more to synthesize).
  config.dataset.synthesis.camera_long_side = (320, 1280)

  config.input.num_threads = 2
  config.model.depth = 18
  config.model.width = 0.25
  config.model.dtype = "float32"  # CPU-sized: bfloat16 is slow on CPUs
  # Beyond the paper: the encoder also sees the image's SRM noise residuals, the
  # traces of an edit that colours alone hide from a network trained for minutes.
  config.model.noise_residuals = True
  config.ncl.max_patches_per_class = 64
  # Beyond the paper: a Dice loss of the final map beside the paper's losses, which
  # weighs each image's edit as a whole, so false alarms on untouched photos cost.
  config.pc.dice_weight = 3.0

  config.image_score_quantile = IMAGE_SCORE_QUANTILE
  # Beyond the paper: every prediction is the mean over the 8 flips and transposes of
  # the image (a predict costs 8 forward passes).
  config.prediction_views = 8

  config.optimizer.name = "adamw"
  config.optimizer.learning_rate = 2e-3
  config.optimizer.weight_decay = 1e-4
  config.optimizer.warmup_steps = 100
  if arg == "runlocal":
    default.apply_runlocal(config)
  return config

r"""The candidate for photos-v5 that validation did not release (docs/recipe.md, "At the
shipped length"): photos-v2's recipe (configs/photos_v2.py: the photo collection, the
validation held out by source, 2,000 steps) with a quarter of the splices pasting a
whole cut-out object instead of half. It was to be released only if it beat photos-v2
on validation (docs/development.md, "Releasing a model").

  python tools/gather_photos.py --output=~/ncl_photos
  python -m ncl_jax.main --config=configs/photos_v5.py --workdir=runs/photos-v5
  python -m ncl_jax.release --workdir=runs/photos-v5 --name=photos-v5 --models_dir=/tmp/candidate

Overrides of configs/photos_v2.py: `dataset.synthesis.cutout_probability=0.25`, with
`dataset.validation_synthesis` kept at photos-v2's recipe; the image score of the
photos command (the map's 99.5th percentile, docs/recipe.md "Which quantile of the map").
"""

import copy

from configs import photos, photos_v2, recipe_ab


def get_config(arg=""):
  """The config (`arg` "runlocal": a one-minute smoke run)."""
  config = photos_v2.get_config(arg)
  # Validated on photos-v2's forgeries, so that the two models meet on one set.
  config.dataset.validation_synthesis = copy.deepcopy(config.dataset.synthesis)
  recipe_ab.quarter_cutouts(config)
  # The image score chosen after photos-v2 shipped; no training step reads it.
  config.image_score_quantile = photos.IMAGE_SCORE_QUANTILE
  return config

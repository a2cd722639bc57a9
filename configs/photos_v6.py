r"""The candidate for photos-v6 that validation did not release (docs/recipe.md, "At the
shipped length"): photos-v5's candidate recipe (configs/photos_v5.py: photos-v2's, with
a quarter of the splices pasting a whole cut-out object) trained also on the
collection's training-only photographs (gcompris-qt-data's monuments and animals),
which are never held out, so the validation forgeries are photos-v2's. It was to be
released only if it passed the release bar set in docs/recipe.md before it trained
(docs/development.md, "Releasing a model").

  python tools/gather_photos.py --output=~/ncl_photos
  python -m ncl_jax.main --config=configs/photos_v6.py --workdir=runs/photos-v6
  python -m ncl_jax.release --workdir=runs/photos-v6 --name=photos-v6 --models_dir=/tmp/candidate

Overrides of configs/photos_v5.py: `dataset.options.training_only_dirs` =
`~/ncl_photos/training_only` (the `more_photos` arm of configs/recipe_ab.py).
"""

from configs import photos_v5, recipe_ab


def get_config(arg=""):
  """The config (`arg` "runlocal": a one-minute smoke run)."""
  config = photos_v5.get_config(arg)
  recipe_ab.more_photos(config)
  return config

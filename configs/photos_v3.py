r"""The candidate for photos-v3 that validation did not release (docs/recipe.md,
"Training length"): photos-v2's recipe (configs/photos_v2.py, which is photos-v1's:
the photo collection, the validation held out by source) trained for 3,000 steps.

  python tools/gather_photos.py --output=~/ncl_photos
  python -m ncl_jax.main --config=configs/photos_v3.py --workdir=runs/photos-v3
  python -m ncl_jax.release --workdir=runs/photos-v3 --name=photos-v3 --models_dir=/tmp/candidate

Overrides of configs/photos_v2.py: 3,000 steps.
"""

from configs import photos_v2


def get_config(arg=""):
  """The config (`arg` "runlocal": a one-minute smoke run)."""
  config = photos_v2.get_config(arg)
  if arg != "runlocal":
    # photos-v2's best validation checkpoint was its last (2,000 steps); the learning
    # rate's decay spans the longer run.
    config.num_train_steps = 3000
  return config

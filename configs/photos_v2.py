r"""photos-v2, the second model shipped in the package: photos-v1's recipe
(configs/photos_v1.py: the photo collection, the validation held out by source)
trained twice as long.

  python tools/gather_photos.py --output=~/ncl_photos
  python -m ncl_jax.main --config=configs/photos_v2.py --workdir=runs/photos-v2
  python -m ncl_jax.release --workdir=runs/photos-v2 --name=photos-v2

Overrides of configs/photos_v1.py: 2,000 steps (validated every 500, as photos-v1),
saved every 250.
"""

from configs import photos_v1


def get_config(arg=""):
  """The config (`arg` "runlocal": a one-minute smoke run)."""
  config = photos_v1.get_config(arg)
  if arg != "runlocal":
    # photos-v1's best validation checkpoint was its last (1,000 steps); the learning
    # rate's decay spans the longer run.
    config.num_train_steps = 2000
    config.checkpoint_every_steps = 250
  return config

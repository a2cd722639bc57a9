r"""A user's folder for the photos command, drawn from the photo collection's
training side.

  PYTHONPATH=. python tools/photo_subset.py --output=~/ncl_photos/subset [--photos=20]

Links (never copies) whole photo sources, drawn by a seeded hash of their folder,
until `--photos` photographs are in, and `--cutouts` cut-outs drawn by a seeded hash
of their file, all from the files that configs/photos_v1.py trains on (the
collection of tools/gather_photos.py without its held-out sources and cut-out
folders). `configs/photos.py` trained on the folder is then measured on the shipped
models' 300 validation forgeries, which share no source with it
(`tools/recipe_ab.py --validation=collection`): the photos command against the
shipped model on the same images.
"""

import logging
import os
import pathlib

from absl import app, flags

from configs import photos_v1
from ncl_jax import paths
from ncl_jax.data.splits import seeded_fraction
from ncl_jax.synthesis import SynthesisConfig
from ncl_jax.synthesis.dataset import PhotoForgeries, holdout_key

FLAGS = flags.FLAGS


def define_flags():
  """Flags, defined only when run as a program."""
  flags.DEFINE_string("output", None, "The folder to make (must not exist).")
  flags.DEFINE_string(
    "collection", None, "The collection's training folder (default: configs/photos_v1.py's)."
  )
  flags.DEFINE_integer("photos", 20, "Photographs to take (whole sources, so maybe a few more).")
  flags.DEFINE_integer("cutouts", 60, "Cut-outs to take.")
  flags.DEFINE_integer("seed", 0, "The seed of the draw.")
  flags.mark_flag_as_required("output")


def training_side(manual_dir: str | None = None):
  """(photos, cut-outs, folder): the names below the collection's folder of the
  files configs/photos_v1.py trains on, split by transparency, and that folder."""
  dataset = photos_v1.get_config().dataset
  if manual_dir:
    dataset.manual_dir = manual_dir
  forgeries = PhotoForgeries(dataset, SynthesisConfig())
  source = forgeries.source
  photos, cutouts = [], []
  for index in forgeries.train_photos:
    (cutouts if source.may_have_alpha(index) else photos).append(source.name(index))
  return photos, cutouts, source.root


def draw_order(name: str, seed: int) -> float:
  """A name's place in the draw: a seeded hash unlike the one that holds photos out
  (ncl_jax.synthesis.dataset.split_photos hashes the bare name), so that the draw
  does not pick the files the photos command would hold out."""
  return seeded_fraction(f"photo_subset:{name}", seed)


def draw(photos, cutouts, num_photos: int, num_cutouts: int, seed: int):
  """The drawn names: whole sources (a photo's folder) in their draw order until
  `num_photos` photos are in, then the first `num_cutouts` cut-outs in theirs."""
  by_source = {}
  for name in photos:
    by_source.setdefault(holdout_key(name, "folder"), []).append(name)
  taken = []
  for source in sorted(by_source, key=lambda source: draw_order(source, seed)):
    if len(taken) >= num_photos:
      break
    taken += by_source[source]
  cutouts = sorted(cutouts, key=lambda name: draw_order(name, seed))[:num_cutouts]
  return sorted(taken), sorted(cutouts)


def link(names, root, output):
  """Symbolic links output/NAME -> root/NAME, the folders below kept."""
  for name in names:
    target = pathlib.Path(output) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(pathlib.Path(root) / name, target)


def main(argv):
  """Makes the folder."""
  del argv
  output = paths.resolve(FLAGS.output)
  if output.exists():
    raise app.UsageError(f"--output={output} exists; give a new folder")
  photos, cutouts, root = training_side(FLAGS.collection)
  taken, cutouts = draw(photos, cutouts, FLAGS.photos, FLAGS.cutouts, FLAGS.seed)
  link(taken + cutouts, root, output)
  logging.info("photos: %s", ", ".join(taken))
  print(f"{output}: {len(taken)} photos and {len(cutouts)} cut-outs of {root}")


if __name__ == "__main__":
  define_flags()
  app.run(main)

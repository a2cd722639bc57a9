"""`photo_forgeries`: a dataset of forgeries synthesized on the fly from a photo
collection, with the interface of a built TFDS dataset (`as_data_source(split)`).

Splits: "train", an endless stream from the training photos; "validation", a
fixed set of `num_validation` forgeries from photos held out of training (a
seeded share of the collection, chosen by file name), for model selection.
Nothing is written to disk.

Dataset config keys (`config.dataset`): `synthesis` (the recipe),
`validation_synthesis` (the validation forgeries' recipe where it differs, so
that training recipes compare on one validation set), `manual_dir` (the photo
folder; empty: scikit-image's bundled photos) and `options`: `source` ("folder", "bundled" or
"tfds"), `tfds_name`, `tfds_split`, `image_key` (for "tfds"; `data_dir` is where
it is built), `validation_fraction`, `num_validation`, `seed`, `cache_mb` (the memory, in MiB,
of the decoded photos each process keeps), `training_only_dirs` (folders of photos
that are trained on and never held out: adding them leaves the validation
forgeries as they were).
"""

import pathlib

from ncl_jax import paths
from ncl_jax.data.splits import seeded_fraction
from ncl_jax.synthesis import photos as photos_lib
from ncl_jax.synthesis import recipe, stream

DEFAULT_OPTIONS = {
  "source": "folder",
  "tfds_name": "",
  "tfds_split": "train",
  "image_key": "image",
  "validation_fraction": 0.15,
  "hold_out_by": "file",
  "num_validation": 200,
  "seed": 0,
  "cache_mb": 1024,
  "training_only_dirs": (),
}
# Held-out photos need a collection of at least this many; smaller ones validate
# on new forgeries of the training photos.
MIN_PHOTOS_TO_HOLD_OUT = 5


def photo_source(dataset_config, options):
  """The collection of photos a `photo_forgeries` config names (folder, TFDS or bundled)."""
  kind = options["source"]
  if kind == "bundled" or (kind == "folder" and not dataset_config.get("manual_dir")):
    return photos_lib.BundledPhotos()
  if kind == "folder":
    return photos_lib.FolderPhotos(dataset_config["manual_dir"])
  if kind == "tfds":
    return photos_lib.TfdsPhotos(
      options["tfds_name"],
      dataset_config.get("data_dir") or "~/tensorflow_datasets",
      options["tfds_split"],
      options["image_key"],
    )
  raise ValueError(f"dataset.options.source={kind!r} must be 'folder', 'bundled' or 'tfds'")


def holdout_key(name: str, hold_out_by: str) -> str:
  """What a photo is held out by: its file name, or the folder it is in."""
  if hold_out_by == "file":
    return name
  if hold_out_by == "folder":
    return str(pathlib.PurePosixPath(name).parent)
  raise ValueError(f"dataset.options.hold_out_by={hold_out_by!r} must be 'file' or 'folder'")


def split_photos(source, fraction: float, seed: int, hold_out_by: str = "file"):
  """(training indices, validation indices) of a photo source, by a seeded hash of
  each photo's name (or folder), so adding photos does not reshuffle the others."""
  indices = list(range(len(source)))
  keys = [holdout_key(source.name(i), hold_out_by) for i in indices]
  if len(set(keys)) < MIN_PHOTOS_TO_HOLD_OUT or fraction <= 0 or len(indices) > 100_000:
    return indices, indices  # large collections: validation photos are a seeded share too
  held = {i for i in indices if seeded_fraction(keys[i], seed) < fraction}
  if not held:
    first = min(indices, key=lambda i: seeded_fraction(keys[i], seed))
    held = {i for i in indices if keys[i] == keys[first]}
  return [i for i in indices if i not in held], sorted(held)


class PhotoForgeries:
  """Forgeries of a photo collection as train and validation data sources."""

  def __init__(
    self,
    dataset_config,
    knobs: recipe.SynthesisConfig,
    validation_knobs: recipe.SynthesisConfig | None = None,
  ):
    """`knobs`: the training forgeries' recipe; `validation_knobs`: the validation
    forgeries' (None: the same), so that recipes compare on one validation set."""
    self.options = {**DEFAULT_OPTIONS, **dict(dataset_config.get("options") or {})}
    # A count of cached photos in configs saved before `cache_mb`; a cache never
    # changes a forgery, so it is dropped.
    self.options.pop("cache_size", None)
    self.knobs, self.validation_knobs = knobs, validation_knobs or knobs
    held_out_from = photo_source(dataset_config, self.options)
    self.train_photos, self.validation_photos = split_photos(
      held_out_from,
      self.options["validation_fraction"],
      self.options["seed"],
      self.options["hold_out_by"],
    )
    self.source = held_out_from
    extra = [photos_lib.FolderPhotos(d) for d in self.options["training_only_dirs"]]
    if extra:
      # Appended, so that the held-out photos keep their indices and forgeries.
      self.source = photos_lib.CombinedPhotos([held_out_from, *extra])
      self.train_photos = [*self.train_photos, *range(len(held_out_from), len(self.source))]
    where = dataset_config.get("manual_dir") or "scikit-image's bundled photos"
    self.data_path = str(paths.resolve(where)) if dataset_config.get("manual_dir") else where

  def as_data_source(self, split: str):
    """The forgeries of `split` as a random-access source (train: endless)."""
    seed = self.options["seed"]
    if split == "train":
      return stream.ForgerySource(
        self.source, self.knobs, seed, stream.ENDLESS, self.options["cache_mb"], self.train_photos
      )
    if split == "validation":
      return stream.ForgerySource(
        self.source,
        self.validation_knobs,
        seed + 1_000_003,
        self.options["num_validation"],
        self.options["cache_mb"],
        self.validation_photos,
      )
    raise ValueError(f"photo_forgeries has the splits 'train' and 'validation', not {split!r}")

  def describe(self) -> str:
    """The photos and how they are split, in one line."""
    return (
      f"{len(self.source)} photos in {self.data_path}"
      + "".join(f" and {d}" for d in self.options["training_only_dirs"])
      + f": {len(self.train_photos)} for training, {len(self.validation_photos)} for "
      f"validation (held out by {self.options['hold_out_by']})"
    )

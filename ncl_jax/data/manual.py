"""Shared machinery of the builders that read a benchmark the user downloaded.

A builder lists `Item`s per split (image path, mask path or None for authentic,
how to read the mask); `ManualBuilder` validates and writes them, and keeps a
`BuildReport` of what was written and of every skipped file with its reason.
Folder names are matched case-insensitively against known variants; pairing is
by name rule, never by sorted position.
"""

import collections
import dataclasses
import io
import pathlib
from collections.abc import Sequence

import numpy as np
import tensorflow_datasets as tfds
from etils import epath
from PIL import Image

from ncl_jax import paths
from ncl_jax.data import splits

from . import features as features_lib

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")


class LayoutError(FileNotFoundError):
  """The manual_dir does not look like the benchmark: says what was expected."""


@dataclasses.dataclass
class Item:
  """One example of a downloaded benchmark: its image, its mask (None: authentic),
  its name and kind."""

  image: epath.Path
  mask: epath.Path | None  # None: authentic, all-zero mask
  name: str  # recorded as file_name (relative to the root)
  manipulation_type: str = ""
  mask_rule: str = "gray"  # see read_mask
  group: str = ""  # examples that must share a split (default: name)


def child(folder, variants: Sequence[str], what="folder") -> epath.Path:
  """The entry of `folder` whose name matches one of `variants`, ignoring case."""
  folder = paths.resolve(folder)
  if not folder.is_dir():
    raise LayoutError(
      f"expected a {what} named {' or '.join(variants)!s} in {folder}, "
      f"but {folder} is not a directory"
    )
  entries = {entry.name.lower(): entry for entry in folder.iterdir()}
  for variant in variants:
    if variant.lower() in entries:
      return entries[variant.lower()]
  raise LayoutError(
    f"expected a {what} named one of {list(variants)} in {folder}; found: "
    f"{sorted(e.name for e in entries.values())[:30]}"
  )


def optional_child(folder, variants: Sequence[str]) -> epath.Path | None:
  """`child(folder, variants)`, or None where no variant exists."""
  try:
    return child(folder, variants)
  except LayoutError:
    return None


def image_files(folder, recursive=False) -> list[epath.Path]:
  """Image files of `folder` (extension matched ignoring case), sorted by name."""
  folder = paths.resolve(folder)
  entries = paths.files_under(folder) if recursive else folder.iterdir()
  return sorted(p for p in entries if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def by_stem(files) -> dict[str, epath.Path]:
  """{file stem: file} of `files`."""
  return {p.stem: p for p in files}


def read_mask(data: bytes, rule: str) -> np.ndarray:
  """Mask bytes -> uint8 [H, W] in {0, 1} (1 = manipulated).

  rules: "gray" white = manipulated (grayscale > 127); "inverted" black =
  manipulated (NIST16); "green" green over red (Columbia's edge masks, G > R);
  "mean_rgb" mean of RGB > 127.5 (IMDL-BenCo's rule).
  """
  with Image.open(io.BytesIO(data)) as image:
    if rule == "green":
      rgb = np.asarray(image.convert("RGB"), np.int16)
      return (rgb[..., 1] > rgb[..., 0]).astype(np.uint8)
    if rule == "mean_rgb":
      return (np.asarray(image.convert("RGB"), np.float32).mean(-1) > 127.5).astype(np.uint8)
    gray = np.asarray(image.convert("L"))
  if rule == "inverted":
    return (gray <= 127).astype(np.uint8)
  if rule == "gray":
    return (gray > 127).astype(np.uint8)
  raise ValueError(f"unknown mask rule {rule!r}")


def read_image(path: epath.Path):
  """(original bytes, format name, (height, width)); raises on an unreadable file."""
  data = path.read_bytes()
  with Image.open(io.BytesIO(data)) as image:
    image.load()  # a truncated file fails here, not in training
    return data, (image.format or path.suffix[1:]).lower(), (image.height, image.width)


def split_list(name: str) -> list[str]:
  """A committed split list of data/ (one entry a line, blank lines ignored)."""
  path = pathlib.Path(__file__).parent / name
  return [line.strip() for line in path.read_text().splitlines() if line.strip()]


class BuildReport:
  """Per split: examples written (authentic / manipulated), skipped files by reason."""

  def __init__(self):
    self.written = collections.defaultdict(collections.Counter)
    self.files = collections.defaultdict(list)  # what each split holds: its split list
    self.repaired = collections.defaultdict(collections.Counter)
    self.skipped = collections.defaultdict(list)

  def add_written(self, split, label, file_name):
    """Counts an example written to `split`."""
    self.written[split]["manipulated" if label else "authentic"] += 1
    self.files[split].append(file_name)

  def add_repair(self, split, what):
    """Counts a repair (e.g. a mask resized to its image) in `split`."""
    self.repaired[split][what] += 1

  def add_skip(self, split, file_name, reason, detail=""):
    """Records a file of `split` left out, and why."""
    self.skipped[split].append({"file": file_name, "reason": reason, "detail": detail})

  def as_dict(self):
    """The report as JSON-ready {split: {written, repaired, skipped, files}}."""
    splits = sorted(set(self.written) | set(self.skipped))
    return {
      split: {
        "written": sum(self.written[split].values()),
        **dict(self.written[split]),
        "repaired": dict(self.repaired[split]),
        "skipped_by_reason": dict(collections.Counter(s["reason"] for s in self.skipped[split])),
        "skipped": self.skipped[split],
        "files": sorted(self.files[split]),
      }
      for split in splits
    }

  def summary(self) -> str:
    """The report in a few lines, for the console."""
    lines = []
    for split, info in self.as_dict().items():
      lines.append(
        f"{split}: {info['written']} written ({info.get('authentic', 0)} authentic, "
        f"{info.get('manipulated', 0)} manipulated); repaired {info['repaired']}; "
        f"skipped {len(info['skipped'])} {info['skipped_by_reason']}"
      )
      lines += [
        f"  skipped {s['file']}: {s['reason']} {s['detail']}".rstrip() for s in info["skipped"]
      ]
    return "\n".join(lines)

  def write(self, path):
    """Writes the report as JSON to `path`."""
    paths.write_json(path, self.as_dict(), indent=2)


@dataclasses.dataclass
class ManualConfig(tfds.core.BuilderConfig):
  """A benchmark builder's options (mask size policy, seed, subsets, validation share)."""

  mask_size_policy: str = "resize"  # mask size != image size: "resize" (nearest) or "skip"
  seed: int = 0  # for seeded splits (Columbia, DEFACTO train subset)
  train_subset: int = 0  # DEFACTO: train on this many (0 = all)
  folder_name: str = ""  # iml_folder: the dataset's name
  validation_fraction: float = 0.1  # carved from train where a benchmark has no validation


class ManualBuilder(tfds.core.GeneratorBasedBuilder):
  """Base of the benchmark builders: subclasses define `split_items(root)`.

  A benchmark with a train split but no validation split gets one: a seeded
  `validation_fraction` of its training examples, carved by group (`Item.group`)
  so that related images (a forgery and its original, one base photo's
  manipulations) never straddle train and validation. The build report lists
  the files of every split."""

  VERSION = tfds.core.Version("1.2.0")
  RELEASE_NOTES = {
    "1.0.0": "First release.",
    "1.1.0": "A validation split carved from train by group, where the "
    "benchmark has none; NIST16's non-target probes as split "
    "'authentic'.",
    "1.2.0": "NIST16's test masks from the SPAN list's mask column and its "
    "'authentic' split from world/ where present; IMD2020's originals as split "
    "'authentic'.",
  }
  BUILDER_CONFIGS = [ManualConfig(name="default")]

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    self.report = BuildReport()

  def _info(self):
    return tfds.core.DatasetInfo(
      builder=self, description=self.__doc__, features=features_lib.features()
    )

  def split_items(self, root: epath.Path) -> dict[str, list[Item]]:
    """{split: [Item]} of the download at `root`; each builder defines it."""
    raise NotImplementedError

  def _split_generators(self, dl_manager):
    root = paths.resolve(getattr(self, "manual_path", None) or dl_manager.manual_dir)
    items = self.split_items(root)
    fraction = self.builder_config.validation_fraction
    if "train" in items and "validation" not in items and fraction > 0:
      train, validation = splits.carve(
        items["train"], lambda item: item.group or item.name, fraction, self.builder_config.seed
      )
      if validation:  # a single group of training images cannot be split
        items["train"], items["validation"] = train, validation
    for split in [split for split, split_items in items.items() if not split_items]:
      del items[split]  # nothing of it was found (a partial download): the report says what
      self.report.add_skip(split, "(the whole split)", "nothing found", "no listed file exists")
    return {
      split: self._generate_examples(split, split_items) for split, split_items in items.items()
    }

  def _generate_examples(self, split, items):
    seen = set()
    for item in items:
      if item.name in seen:
        self.report.add_skip(split, item.name, "duplicate")
        continue
      seen.add(item.name)
      example = self._example(split, item)
      if example is not None:
        self.report.add_written(split, example["label"], item.name)
        yield item.name, example

  def _example(self, split, item: Item):
    """The example of one item, or None (reported) when it cannot be used."""
    try:
      image_bytes, image_format, size = read_image(item.image)
    except Exception as error:  # PIL raises many types on malformed files
      self.report.add_skip(split, item.name, "unreadable image", f"{type(error).__name__}: {error}")
      return None
    if item.mask is None:
      mask = np.zeros(size, np.uint8)
    else:
      try:
        mask = read_mask(item.mask.read_bytes(), item.mask_rule)
      except Exception as error:  # pylint: disable=broad-except
        self.report.add_skip(
          split, item.name, "unreadable mask", f"{item.mask.name}: {type(error).__name__}: {error}"
        )
        return None
      if mask.shape != size:
        detail = (
          f"mask {mask.shape[1]}x{mask.shape[0]} vs image {size[1]}x{size[0]} ({item.mask.name})"
        )
        if self.builder_config.mask_size_policy == "skip":
          self.report.add_skip(split, item.name, "mask size mismatch", detail)
          return None
        mask = np.asarray(Image.fromarray(mask).resize((size[1], size[0]), Image.NEAREST))
        self.report.add_repair(split, "mask resized")
    example = features_lib.make_example(
      image_bytes, image_format, mask, item.name, item.manipulation_type
    )
    if item.mask is not None and not mask.any():
      # A manipulated image whose mask is empty: keep it, labelled manipulated,
      # so image-level metrics still count it; pixel metrics skip it.
      example["label"] = 1
      self.report.add_repair(split, "empty mask of a manipulated image")
    return example

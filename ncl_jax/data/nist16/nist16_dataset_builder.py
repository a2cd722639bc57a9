"""NIST Nimble 2016 (NC2016_Test0613)."""

import csv
from typing import NamedTuple

from .. import manual

_TYPES = (
  ("IsManipulationTypeRemoval", "removal"),
  ("IsManipulationTypeSplice", "splicing"),
  ("IsManipulationTypeCopyClone", "copy_move"),
)


def _dataset_root(root):
  """manual_dir itself, or its NC2016_Test0613* child."""
  if manual.optional_child(root, ("probe",)):
    return root
  for entry in sorted(root.iterdir()):
    if (
      entry.is_dir()
      and entry.name.lower().startswith("nc2016")
      and manual.optional_child(entry, ("probe",))
    ):
      return entry
  raise manual.LayoutError(
    f"expected probe/ and reference/ in {root} or in its NC2016_Test0613 "
    f"folder; found: {sorted(e.name for e in root.iterdir())[:30]}"
  )


class Reference(NamedTuple):
  """The probes of NIST16's reference CSVs, manipulated and authentic."""

  manipulated: dict  # probe file -> (mask file, manipulation type, base photo)
  authentic: dict  # probe file -> base photo, for the non-target probes


def read_reference(dataset_root, report) -> Reference:
  """The probes of every `reference/*/NC2016-*-ref.csv`, deduplicated by
  ProbeFileName (first mask wins): the manipulated ones (IsTarget Y) with their
  masks, and the non-target ones (IsTarget N, authentic) that no CSV lists as a
  target. The base photo (BaseFileName, where the CSV has it) groups a probe's
  relatives when validation is carved from train."""
  reference = manual.child(dataset_root, ("reference",), "reference folder")
  csv_files = sorted(
    p
    for task in reference.iterdir()
    if task.is_dir()
    for p in task.iterdir()
    if p.name.lower().startswith("nc2016-") and p.name.lower().endswith("-ref.csv")
  )
  if not csv_files:
    raise manual.LayoutError(f"no reference/*/NC2016-*-ref.csv in {dataset_root}")
  manipulated, authentic = {}, {}
  for path in csv_files:
    with open(path, newline="", encoding="utf-8") as file:
      for row in csv.DictReader(file, delimiter="|"):
        probe = row["ProbeFileName"].strip()
        base = (row.get("BaseFileName") or "").strip() or probe
        if row.get("IsTarget", "").strip().upper() != "Y":
          authentic.setdefault(probe, base)
          continue
        mask = row.get("ProbeMaskFileName", "").strip()
        if not mask:
          report.add_skip("build", probe, "no mask", f"empty ProbeMaskFileName in {path.name}")
          continue
        kind = next(
          (name for column, name in _TYPES if row.get(column, "").strip().upper() == "Y"), ""
        )
        manipulated.setdefault(probe, (mask, kind, base))
  for probe in set(authentic) & set(manipulated):
    del authentic[probe]
  return Reference(manipulated, authentic)


class Builder(manual.ManualBuilder):
  """NIST16: manipulated probes paired with their masks through the reference CSVs
  (mask ids differ from probe ids); masks are inverted (black = manipulated). Test:
  the 160 probes of the SPAN split with the masks that list gives (a probe can be
  a target in several CSVs); train: the other manipulated probes, less a validation
  share carved by base photo. The split "authentic" holds world/'s images (the
  authentic set IMDL-BenCo's maintainers use) where the download has them, else the
  non-target probes; nothing uses it unless a config names it. Known near-duplicates
  leak across the SPAN split (docs/benchmarks.md)."""

  name = "nist16"
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  NIST Nimble 2016 is distributed by NIST's Media Forensics Challenge after registration
  (mfc.nist.gov). manual_dir: NC2016_Test0613/ (or its contents): probe/, world/,
  reference/{manipulation,remove,splice}/mask/*.png and reference/*/NC2016-*-ref.csv.
  """

  def split_items(self, root):
    """{split: [Item]}: the SPAN test probes, the other manipulated probes for training."""
    dataset_root = _dataset_root(root)
    reference = read_reference(dataset_root, self.report)
    test_masks = dict(
      line.split("|") for line in manual.split_list("nist16/nist16_test_probe_mask.txt")
    )
    splits = {"train": [], "test": [], "authentic": []}
    for probe, (mask, kind, base) in sorted(reference.manipulated.items()):
      split = "test" if probe in test_masks else "train"
      if split == "test":
        mask = test_masks[probe]  # the SPAN list's mask, whichever CSV row came first
      image_path, mask_path = dataset_root / probe, dataset_root / mask
      if not image_path.is_file() or not mask_path.is_file():
        self.report.add_skip(
          split,
          probe,
          "listed but missing",
          f"{probe if not image_path.is_file() else mask} not found",
        )
        continue
      splits[split].append(manual.Item(image_path, mask_path, probe, kind, "inverted", group=base))
    splits["authentic"] = self._authentic_items(dataset_root, reference)
    return splits

  def _authentic_items(self, dataset_root, reference) -> list:
    """world/'s images, or, where it has none, the non-target probes."""
    world = manual.optional_child(dataset_root, ("world",))
    world_images = manual.image_files(world) if world else []
    if world_images:
      return [manual.Item(p, None, f"{world.name}/{p.name}", "authentic") for p in world_images]
    items = []
    for probe in sorted(reference.authentic):
      if not (dataset_root / probe).is_file():
        self.report.add_skip("authentic", probe, "listed but missing", f"{probe} not found")
        continue
      items.append(manual.Item(dataset_root / probe, None, probe, "authentic"))
    return items

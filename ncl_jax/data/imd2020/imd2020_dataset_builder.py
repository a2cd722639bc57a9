"""IMD2020 (real-life manipulated images)."""

from .. import manual


def _dataset_root(root, folders):
  """manual_dir, or its single child folder, whichever holds any of IMD2020's
  `folders` (a partial download holds only some of them)."""
  folders = set(folders)
  candidates = [root] + sorted(c for c in root.iterdir() if c.is_dir())
  for candidate in candidates:
    if any((candidate / folder).is_dir() for folder in folders):
      return candidate
  raise manual.LayoutError(
    f"none of IMD2020's 414 folders (e.g. {sorted(folders)[0]}) in {root} "
    f"or one level below; found: "
    f"{sorted(e.name for e in root.iterdir())[:30]}"
  )


class Builder(manual.ManualBuilder):
  """IMD2020: the 2,010 tampered images with masks; CAT-Net's train (1,869) and
  test (141) lists, used as they are. Every folder's original (`*_orig.*`) goes to
  the split "authentic", for image-level metrics; nothing uses it unless a config
  names it. A partial download builds what is there; the report lists every listed
  file that is missing."""

  name = "imd2020"
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Download IMD2020 from its authors' page (staff.utia.cas.cz/novozada/db/).
  manual_dir holds the 414 folders; each has <folder>_orig.jpg and tampered <id>_0.{jpg,png}
  with <id>_0_mask.png (folders z* use NNNNN_orig.jpg and NNNNN_fake[_NN] names).
  """

  def split_items(self, root):
    """{split: [Item]} from CAT-Net's IMD2020 train and test lists."""
    lists = {
      split: [line.split(",") for line in manual.split_list(f"imd2020/{name}")]
      for split, name in (
        ("train", "imd2020_train_image_mask.txt"),
        ("test", "imd2020_test_image_mask.txt"),
      )
    }
    dataset_root = _dataset_root(
      root, {image.split("/")[0] for entries in lists.values() for image, _ in entries}
    )
    splits = {}
    for split, entries in lists.items():
      items = []
      for image, mask in entries:
        if not (dataset_root / image).is_file() or not (dataset_root / mask).is_file():
          self.report.add_skip(
            split,
            image,
            "listed but missing",
            f"{image if not (dataset_root / image).is_file() else mask} not found",
          )
          continue
        # One folder holds one original's manipulations: it stays in one split.
        items.append(
          manual.Item(dataset_root / image, dataset_root / mask, image, group=image.split("/")[0])
        )
      splits[split] = items
    splits["authentic"] = [
      manual.Item(p, None, f"{p.parent.name}/{p.name}", "authentic", group=p.parent.name)
      for folder in sorted(c for c in dataset_root.iterdir() if c.is_dir())
      for p in manual.image_files(folder)
      if p.stem.lower().endswith("_orig")
    ]
    return splits

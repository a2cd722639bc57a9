"""IMD2020 (real-life manipulated images)."""
from .. import manual


def _dataset_root(root, entry):
  """manual_dir, or its single child folder when the data is nested one level deeper."""
  if (root / entry).exists():
    return root
  children = [c for c in root.iterdir() if c.is_dir() and (c / entry).exists()]
  if len(children) == 1:
    return children[0]
  raise manual.LayoutError(f"expected IMD2020's 414 folders (e.g. {entry}) in {root}; found: "
                           f"{sorted(e.name for e in root.iterdir())[:30]}")


class Builder(manual.ManualBuilder):
  """IMD2020: the 2,010 tampered images with masks; CAT-Net's train (1,869) and
  test (141) lists, used as they are."""
  name = "imd2020"
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Download IMD2020 from its authors' page (staff.utia.cas.cz/novozada/db/).
  manual_dir holds the 414 folders; each has <folder>_orig.jpg and tampered <id>_0.{jpg,png}
  with <id>_0_mask.png (folders z* use NNNNN_orig.jpg and NNNNN_fake[_NN] names).
  """

  def split_items(self, root):
    splits = {}
    for split, list_name in (("train", "imd2020_train_image_mask.txt"),
                             ("test", "imd2020_test_image_mask.txt")):
      entries = [line.split(",") for line in manual.split_list(f"imd2020/{list_name}")]
      dataset_root = _dataset_root(root, entries[0][0].split("/")[0])
      items = []
      for image, mask in entries:
        if not (dataset_root / image).is_file() or not (dataset_root / mask).is_file():
          self.report.add_skip(split, image, "listed but missing",
                               f"{image if not (dataset_root / image).is_file() else mask} not found")
          continue
        items.append(manual.Item(dataset_root / image, dataset_root / mask, image))
      splits[split] = items
    return splits

"""Any IMDL-BenCo-style dataset: a Tp/ + Gt/ folder, or a JSON list."""

import json
import os

from ncl_jax import paths

from .. import manual


def _absolute(path: str) -> bool:
  return paths.is_remote(path) or os.path.isabs(path)


MASK_SUFFIXES = ("", "_gt", "_mask")


def _folder_items(root, report):
  tampered = manual.child(root, ("Tp",), "tampered-image folder")
  masks = {}
  for path in manual.image_files(manual.child(root, ("Gt",), "mask folder")):
    masks[path.stem] = path
  items = []
  for image in manual.image_files(tampered):
    mask = next((masks[image.stem + s] for s in MASK_SUFFIXES if image.stem + s in masks), None)
    if mask is None:
      report.add_skip(
        "full",
        f"Tp/{image.name}",
        "no mask",
        f"no Gt/{image.stem}{{,_gt,_mask}}.* (pairing is by name)",
      )
      continue
    items.append(manual.Item(image, mask, f"Tp/{image.name}", "", "mean_rgb"))
  return items


def _json_items(path, report):
  base = path.parent
  items = []
  for entry in json.loads(path.read_text()):
    image, mask = entry[0], entry[1]
    image_path = paths.resolve(image) if _absolute(image) else base / image
    if mask == "Negative":
      items.append(manual.Item(image_path, None, image, "authentic"))
      continue
    mask_path = paths.resolve(mask) if _absolute(mask) else base / mask
    if not mask_path.is_file():
      report.add_skip("full", image, "no mask", f"{mask} not found")
      continue
    items.append(manual.Item(image_path, mask_path, image, "", "mean_rgb"))
  return items


class Builder(manual.ManualBuilder):
  """An IMDL-BenCo folder (`Tp/` images, `Gt/` masks paired by stem, not by sorted
  order) or JSON list (`[[image, mask], ...]`, mask "Negative" = authentic), as one
  split named `full`. Masks: mean(RGB) > 127.5, as IMDL-BenCo. Set
  `options.folder_name` to keep several such datasets apart in data_dir."""

  name = "iml_folder"
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  manual_dir: a folder with Tp/ and Gt/, or the path of an IMDL-BenCo JSON list file.
  """

  def split_items(self, root):
    """{"full": [Item]} of an IMDL-BenCo folder (Tp/, Gt/) or JSON list."""
    if root.is_file() and root.suffix.lower() == ".json":
      return {"full": _json_items(root, self.report)}
    return {"full": _folder_items(root, self.report)}

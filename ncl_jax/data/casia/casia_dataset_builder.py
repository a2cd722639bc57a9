"""CASIA v1.0 and v2.0 (configs `v1`, `v2`)."""

import re

from .. import manual

TAMPERED_VARIANTS = ("Tp", "TP", "Modified Tp", "ModifiedTp", "Modified_Tp")
V1_GT_VARIANTS = (
  "CASIA 1.0 groundtruth",
  "CASIA1.0 groundtruth",
  "CASIA 1.0 Groundtruth",
  "casia1groundtruth",
  "CASIA1_GT",
  "groundtruth",
  "gt",
)
V2_GT_VARIANTS = (
  "CASIA 2 Groundtruth",
  "CASIA 2.0 Groundtruth",
  "CASIA2 Groundtruth",
  "casia2groundtruth",
  "CASIA2.0_Groundtruth",
  "Gt",
  "groundtruth",
)
_ID = re.compile(r"(\d{5})$")


def _mask_index(folder):
  """{image stem: mask path} of `<stem>_gt.*` files (any image extension)."""
  masks = {}
  for path in manual.image_files(folder, recursive=True):
    stem = path.stem[:-3] if path.stem.lower().endswith("_gt") else path.stem
    masks[stem] = path
  return masks


def _v1_items(root, report):
  gt_root = manual.child(root, V1_GT_VARIANTS, "ground-truth folder (casia1groundtruth)")
  tampered_root = manual.child(root, TAMPERED_VARIANTS, "tampered-image folder")
  items, paired = [], set()
  for sub, kind in (("CM", "copy_move"), ("Sp", "splicing")):
    masks = _mask_index(manual.child(gt_root, (sub,), "ground-truth subfolder"))
    for image in manual.image_files(manual.child(tampered_root, (sub,), "tampered subfolder")):
      name = f"Tp/{sub}/{image.name}"
      if image.stem not in masks:
        report.add_skip("test", name, "no mask", f"no {image.stem}_gt.* in {gt_root.name}/{sub}")
        continue
      paired.add(masks[image.stem])
      items.append(manual.Item(image, masks[image.stem], name, kind))
    for mask in masks.values():
      if mask not in paired:
        report.add_skip("test", f"{gt_root.name}/{sub}/{mask.name}", "mask without image")
  for image in manual.image_files(manual.child(root, ("Au",), "authentic folder")):
    items.append(manual.Item(image, None, f"Au/{image.name}", "authentic"))
  return {"test": items}


def _find_mask_v2(stem, masks, masks_by_id):
  if stem in masks:
    return masks[stem]
  match = _ID.search(stem)  # a few stems differ; the trailing 5-digit id matches
  return masks_by_id.get(match.group(1)) if match else None


def _v2_items(root, report):
  masks = _mask_index(manual.child(root, V2_GT_VARIANTS, "ground-truth folder"))
  masks_by_id = {m.group(1): path for stem, path in masks.items() if (m := _ID.search(stem))}
  folders = {
    "tp": manual.child(root, TAMPERED_VARIANTS, "tampered-image folder"),
    "au": manual.child(root, ("Au",), "authentic folder"),
  }
  files = {
    (key, p.name.lower()): p for key, folder in folders.items() for p in manual.image_files(folder)
  }
  splits = {}
  for split, list_name in (
    ("train", "casia2_train.txt"),
    ("validation", "casia2_valid.txt"),
    ("test", "casia2_test.txt"),
  ):
    items = []
    for entry in manual.split_list(f"casia/{list_name}"):
      folder, file_name = entry.split("/", 1)
      image = files.get((folder.lower(), file_name.lower()))
      if image is None:
        report.add_skip(split, entry, "listed but missing")
        continue
      if folder.lower() == "au":
        items.append(manual.Item(image, None, entry, "authentic"))
        continue
      mask = _find_mask_v2(image.stem, masks, masks_by_id)
      if mask is None:
        report.add_skip(split, entry, "no mask", f"no {image.stem}_gt.* and no mask with its id")
        continue
      kind = "splicing" if file_name.startswith("Tp_D") else "copy_move"
      items.append(manual.Item(image, mask, entry, kind))
    splits[split] = items
  return splits


class Builder(manual.ManualBuilder):
  """CASIA v1.0 (test split, the CASIAv2 -> CASIAv1 protocol) and v2.0 (CAT-Net's
  train / validation / test lists)."""

  name = "casia"
  BUILDER_CONFIGS = [
    manual.ManualConfig(name="v1", description="CASIA v1.0"),
    manual.ManualConfig(name="v2", description="CASIA v2.0"),
  ]
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  CASIA v1.0 / v2.0 images are distributed through the CASIA authors' cloud drives
  (see the CASIA ITDE page); the ground-truth masks come separately from the
  casia1groundtruth / casia2groundtruth (or CASIA2.0-Corrected-Groundtruth) repositories.
  v1 manual_dir: Au/, Tp/{CM,Sp}/ (Tp may be TP, Modified Tp, ModifiedTp) and a
    ground-truth folder ("CASIA 1.0 groundtruth") with {CM,Sp}/<stem>_gt.png.
  v2 manual_dir: Au/, Tp/ and a ground-truth folder ("CASIA 2 Groundtruth" or Gt/)
    with <stem>_gt.png.
  """

  def split_items(self, root):
    """{split: [Item]} of CASIA v1 or v2 (CAT-Net's lists for v2)."""
    version = self.builder_config.name.split("_")[0]
    return (_v1_items if version == "v1" else _v2_items)(root, self.report)

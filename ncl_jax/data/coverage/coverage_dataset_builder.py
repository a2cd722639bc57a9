"""COVERAGE copy-move forgery database."""

from .. import manual


class Builder(manual.ManualBuilder):
  """COVERAGE: 100 originals `image/N.tif` and 100 forgeries `image/Nt.tif` with
  `mask/Nforged.tif`. Test: the 25 ids of the RGB-N / SPAN split; train: the other 75.
  The originals are the authentic examples of their id's split."""

  name = "coverage"
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Download COVERAGE from its authors' repository (github.com/wenbihan/coverage).
  manual_dir: image/{N}.tif, image/{N}t.tif and mask/{N}forged.tif (mask/{N}copy.tif and
  mask/{N}paste.tif are not used).
  """

  def split_items(self, root):
    """{split: [Item]}: the RGB-N/SPAN test ids, the rest for training."""
    images = {p.stem.lower(): p for p in manual.image_files(manual.child(root, ("image",)))}
    masks = {p.stem.lower(): p for p in manual.image_files(manual.child(root, ("mask",)))}
    test_ids = set(manual.split_list("coverage/coverage_test_ids.txt"))
    ids = sorted(
      {stem[:-1] if stem.endswith("t") else stem for stem in images}, key=lambda s: (len(s), s)
    )
    splits = {"train": [], "test": []}
    for forgery_id in ids:
      split = "test" if forgery_id in test_ids else "train"
      forged = images.get(f"{forgery_id}t")
      if forged is not None:
        mask = masks.get(f"{forgery_id}forged")
        if mask is None:
          self.report.add_skip(
            split, f"image/{forged.name}", "no mask", f"no mask/{forgery_id}forged.tif"
          )
        else:
          splits[split].append(
            manual.Item(forged, mask, f"image/{forged.name}", "copy_move", group=forgery_id)
          )
      if forgery_id in images:
        original = images[forgery_id]
        splits[split].append(
          manual.Item(original, None, f"image/{original.name}", "authentic", group=forgery_id)
        )
    return splits

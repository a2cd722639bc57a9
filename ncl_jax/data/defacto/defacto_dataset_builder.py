"""DEFACTO (copy-move, inpainting, splicing)."""

from ncl_jax.data.splits import seeded_fraction

from .. import manual


def groups():
  """(canonical image folder, image-folder variants, annotation-folder variants, type)."""
  yield (
    "copymove_img",
    ("copymove_img", "Copy-Move-images"),
    ("copymove_annotations", "Copy-Move-annotations"),
    "copy_move",
  )
  yield (
    "inpainting_img",
    ("inpainting_img", "Inpainting-images"),
    ("inpainting_annotations", "Inpainting-annotations"),
    "removal",
  )
  for k in range(1, 8):
    yield (
      f"splicing_{k}_img",
      (f"splicing_{k}_img", f"Splicing-images-{k}"),
      (f"splicing_{k}_annotations", f"Splicing-annotations-{k}"),
      "splicing",
    )


class Builder(manual.ManualBuilder):
  """DEFACTO: test = the 6,000 manipulated images of DEFACTO-12k (MVSS-Net++'s list);
  train = every other image, or a seeded subset of `options.train_subset` images."""

  name = "defacto"
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Download DEFACTO from its authors' Kaggle pages (defacto-copymove, defacto-inpainting,
  defacto-splicing). manual_dir holds the folders copymove_img/img + copymove_annotations/
  probe_mask, inpainting_img/img + inpainting_annotations/probe_mask, splicing_{1..7}_img/img +
  splicing_{1..7}_annotations/probe_mask (or Copy-Move-images/img, Splicing-images-2/img,
  Inpainting-images/img with the matching ...-annotations/probe_mask). Any subset of the
  groups may be present; missing ones are reported.
  """

  def split_items(self, root):
    """{split: [Item]}: DEFACTO-12k's 6,000 manipulated images for test, the rest for training."""
    test_names = set(manual.split_list("defacto/defacto_test_6k.txt"))
    splits, found = {"train": [], "test": []}, 0
    for canonical, image_variants, mask_variants, kind in groups():
      image_folder = manual.optional_child(root, image_variants)
      mask_folder = manual.optional_child(root, mask_variants)
      if image_folder is None or mask_folder is None:
        self.report.add_skip(
          "build", canonical, "folder missing", f"expected {image_variants} and {mask_variants}"
        )
        continue
      found += 1
      masks = manual.by_stem(manual.image_files(manual.child(mask_folder, ("probe_mask",))))
      for image in manual.image_files(manual.child(image_folder, ("img",))):
        name = f"{canonical}/img/{image.name}"
        split = "test" if name in test_names else "train"
        if image.stem not in masks:
          self.report.add_skip(split, name, "no mask", f"no probe_mask/{image.stem}.*")
          continue
        # DEFACTO stems are <n>_<COCO image id>: one COCO photo's manipulations
        # stay in one split when validation is carved from train.
        splits[split].append(
          manual.Item(image, masks[image.stem], name, kind, group=image.stem.split("_", 1)[-1])
        )
    if not found:
      raise manual.LayoutError(
        f"none of DEFACTO's folders (copymove_img, inpainting_img, "
        f"splicing_1_img, ...) in {root}; found: "
        f"{sorted(e.name for e in root.iterdir())[:30]}"
      )
    subset = self.builder_config.train_subset
    if subset and subset < len(splits["train"]):
      seed = self.builder_config.seed
      splits["train"] = sorted(splits["train"], key=lambda item: seeded_fraction(item.name, seed))[
        :subset
      ]
    return splits

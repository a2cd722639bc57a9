"""Columbia Uncompressed Image Splicing Detection."""

from ncl_jax.data.splits import seeded_fraction

from .. import manual

TEST_FRACTION = 0.25


def _nested(root, name):
  """`name/` or, in some copies, `name/name/`."""
  folder = manual.child(root, (name,), f"{name} folder")
  return manual.optional_child(folder, (name,)) or folder


class Builder(manual.ManualBuilder):
  """Columbia: 183 authentic and 180 spliced TIFFs. No standard split exists: a
  seeded 75/25 split by file name (`options.seed`), the same for every copy of the
  data; the build report lists every file of each split."""

  name = "columbia"
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Request the "Columbia Uncompressed Image Splicing Detection Evaluation Dataset" from
  Columbia DVMM (www.ee.columbia.edu/ln/dvmm/downloads/authsplcuncmp/).
  manual_dir: 4cam_auth/*.tif, 4cam_splc/*.tif and 4cam_splc/edgemask/<stem>_edgemask.jpg
  (either folder may be nested one level deeper, e.g. 4cam_splc/4cam_splc/).
  Masks: the green region of the edge mask (G > R) is the spliced one.
  """

  def split_items(self, root):
    """{split: [Item]}: a seeded 75/25 split of the spliced and authentic images."""
    seed = self.builder_config.seed
    splits = {"train": [], "test": []}
    spliced = _nested(root, "4cam_splc")
    edge_folder = manual.optional_child(spliced, ("edgemask",)) or manual.child(
      spliced.parent, ("edgemask",), "edgemask folder"
    )
    masks = {
      p.stem[: -len("_edgemask")]: p
      for p in manual.image_files(edge_folder)
      if p.stem.lower().endswith("_edgemask")
    }
    for image in manual.image_files(spliced):
      split = "test" if seeded_fraction(image.stem, seed) < TEST_FRACTION else "train"
      name = f"4cam_splc/{image.name}"
      if image.stem not in masks:
        self.report.add_skip(split, name, "no mask", f"no edgemask/{image.stem}_edgemask.jpg")
        continue
      splits[split].append(manual.Item(image, masks[image.stem], name, "splicing", "green"))
    for image in manual.image_files(_nested(root, "4cam_auth")):
      split = "test" if seeded_fraction(image.stem, seed) < TEST_FRACTION else "train"
      splits[split].append(manual.Item(image, None, f"4cam_auth/{image.name}", "authentic"))
    return splits

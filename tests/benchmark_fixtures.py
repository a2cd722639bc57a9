"""Tiny copies of the public benchmarks, laid out as users download them, with
their real file-name patterns and quirks. Each `make_*` writes a folder and
returns the ground truth the builder must reproduce:

  {"examples": {split: {file_name: expected binary mask [H, W] (uint8)}},
   "skipped": {(split, file_name): reason}}

Authentic images expect an all-zero mask of their size.
"""

import io
import json
import pathlib

import numpy as np
from PIL import Image

from ncl_jax.data import manual, splits

H, W = 48, 64  # image size (multiples of 16 keep JPEG blocks flat at region edges)


def image_array(seed, height=H, width=W):
  return np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8)


def region(seed, height=H, width=W):
  """A block-aligned rectangle: binary uint8 [height, width]."""
  rng = np.random.default_rng(seed + 1000)
  top = rng.integers(0, max(1, height // 16 - 1)) * 16
  left = rng.integers(0, max(1, width // 16 - 1)) * 16
  mask = np.zeros((height, width), np.uint8)
  mask[top : top + 16 * rng.integers(1, 3), left : left + 16 * rng.integers(1, 3)] = 1
  return mask


def save(path, array, fmt=None, **kwargs):
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fmt = (
    fmt
    or {
      ".jpg": "JPEG",
      ".jpeg": "JPEG",
      ".png": "PNG",
      ".tif": "TIFF",
      ".tiff": "TIFF",
      ".bmp": "BMP",
    }[path.suffix.lower()]
  )
  Image.fromarray(array).save(path, fmt, **kwargs)


def save_corrupt(path):
  """A truncated JPEG: the name looks fine, the bytes do not decode."""
  buffer = io.BytesIO()
  Image.fromarray(image_array(99)).save(buffer, "JPEG")
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes(buffer.getvalue()[:200])


def white_mask(mask, background=0, foreground=255):
  return np.where(mask > 0, foreground, background).astype(np.uint8)


def nearest(mask, height, width):
  return np.asarray(Image.fromarray(mask).resize((width, height), Image.NEAREST))


def truth():
  return {"examples": {}, "skipped": {}}


def expect(result, split, name, mask):
  result["examples"].setdefault(split, {})[name] = mask


def make_casia_v1(root):
  root, result = pathlib.Path(root), truth()
  save(root / "Au" / "Au_ani_0001.jpg", image_array(1))
  save(root / "Au" / "Au_arc_0002.JPG", image_array(2))  # upper-case extension
  expect(result, "test", "Au/Au_ani_0001.jpg", np.zeros((H, W), np.uint8))
  expect(result, "test", "Au/Au_arc_0002.JPG", np.zeros((H, W), np.uint8))
  tampered, gt = root / "Modified Tp", root / "CASIA 1.0 groundtruth"  # folder variants
  cm = "Sp_S_CND_A_pla0016_pla0016_0196"
  save(tampered / "CM" / f"{cm}.jpg", image_array(3))
  mask = region(3)
  rgba = np.dstack([white_mask(mask)] * 3 + [np.full((H, W), 255, np.uint8)])
  save(gt / "CM" / f"{cm}_gt.png", rgba)  # RGBA mask
  expect(result, "test", f"Tp/CM/{cm}.jpg", mask)
  sp = "Sp_D_CND_A_pla0005_pla0023_0281"
  save(tampered / "Sp" / f"{sp}.jpg", image_array(4))
  mask = region(4)
  save(gt / "Sp" / f"{sp}_gt.png", white_mask(mask, 20, 200))  # not strictly binary
  expect(result, "test", f"Tp/Sp/{sp}.jpg", mask)
  small = "Sp_D_NRN_A_ani0022_ani0023_0300"
  save(tampered / "Sp" / f"{small}.jpg", image_array(5))
  mask = region(5, H // 2, W // 2)
  save(gt / "Sp" / f"{small}_gt.png", white_mask(mask))  # another size
  expect(result, "test", f"Tp/Sp/{small}.jpg", nearest(mask, H, W))
  save(tampered / "Sp" / "Sp_D_NRN_A_cha0010_cha0011_0999.jpg", image_array(6))  # no mask
  result["skipped"][("test", "Tp/Sp/Sp_D_NRN_A_cha0010_cha0011_0999.jpg")] = "no mask"
  save(gt / "Sp" / "Sp_D_CRN_A_sec0001_sec0002_0123_gt.png", white_mask(region(7)))
  result["skipped"][("test", "CASIA 1.0 groundtruth/Sp/Sp_D_CRN_A_sec0001_sec0002_0123_gt.png")] = (
    "mask without image"
  )
  save_corrupt(tampered / "Sp" / "Sp_D_CNN_A_art0024_art0025_0500.jpg")
  save(gt / "Sp" / "Sp_D_CNN_A_art0024_art0025_0500_gt.png", white_mask(region(8)))
  result["skipped"][("test", "Tp/Sp/Sp_D_CNN_A_art0024_art0025_0500.jpg")] = "unreadable image"
  return result


def make_casia_v2(root):
  root, result = pathlib.Path(root), truth()
  lists = {
    split: manual.split_list(f"casia/casia2_{name}.txt")
    for split, name in (("train", "train"), ("validation", "valid"), ("test", "test"))
  }
  for split, entries in lists.items():
    tampered = [e for e in entries if e.startswith("Tp/")][:2]
    authentic = [e for e in entries if e.startswith("Au/")][:1]
    for k, entry in enumerate(tampered):
      seed = hash((split, k)) % 1000
      save(root / entry, image_array(seed))
      mask = region(seed)
      stem = pathlib.Path(entry).stem
      if k == 1:  # a stem that differs from its image's; the trailing id still matches
        mask_stem = stem.replace("Tp_", "Tp_X_", 1)
      else:
        mask_stem = stem
      save(root / "Gt" / f"{mask_stem}_gt.png", white_mask(mask))
      expect(result, split, entry, mask)
    for entry in authentic:
      save(root / entry, image_array(7))
      expect(result, split, entry, np.zeros((H, W), np.uint8))
  missing = lists["train"][-1]
  result["skipped"][("train", missing)] = "listed but missing"
  return result


def columbia_edge_mask(mask):
  """Columbia's RGB JPEG edge mask: green = the spliced region, red = the rest of
  the picture, both bright at the boundary and darker away from it, black margins."""
  distance = np.abs(np.arange(W) - 32)[None, :].repeat(H, 0).astype(np.float32)
  level = (255 - 4 * distance).clip(60, 255).astype(np.uint8)
  rgb = np.zeros((H, W, 3), np.uint8)
  rgb[..., 1] = np.where(mask > 0, level, 0)
  rgb[..., 0] = np.where(mask > 0, 0, level)
  rgb[:16, :16] = 0  # black: neither region
  return rgb


def make_columbia(root):
  root, result = pathlib.Path(root), truth()
  spliced = root / "4cam_splc" / "4cam_splc"  # nested one level deeper
  for k, stem in enumerate(
    [
      "canong3_canonxt_sub_01",
      "canong3_kodakdcs330_sub_05",
      "nikond70_canonxt_sub_12",
      "canonxt_kodakdcs330_sub_20",
    ]
  ):
    save(spliced / f"{stem}.tif", image_array(20 + k))
    mask = np.zeros((H, W), np.uint8)
    mask[:, 32:] = 1
    mask[:16, :16] = 0
    save(spliced / "edgemask" / f"{stem}_edgemask.jpg", columbia_edge_mask(mask), quality=95)
    split = "test" if splits.seeded_fraction(stem, 0) < 0.25 else "train"
    expect(result, split, f"4cam_splc/{stem}.tif", mask)
  for k, stem in enumerate(["canong3_02_sub_01", "nikond70_05_sub_07", "kodakdcs330_08_sub_03"]):
    save(root / "4cam_auth" / f"{stem}.tif", image_array(30 + k))
    split = "test" if splits.seeded_fraction(stem, 0) < 0.25 else "train"
    expect(result, split, f"4cam_auth/{stem}.tif", np.zeros((H, W), np.uint8))
  save(spliced / "nikond70_kodakdcs330_sub_02.tif", image_array(40))  # no edge mask
  split = "test" if splits.seeded_fraction("nikond70_kodakdcs330_sub_02", 0) < 0.25 else "train"
  result["skipped"][(split, "4cam_splc/nikond70_kodakdcs330_sub_02.tif")] = "no mask"
  return result


def make_coverage(root):
  root, result = pathlib.Path(root), truth()
  for forgery_id, split in (("4", "test"), ("1", "train"), ("2", "train")):
    save(root / "image" / f"{forgery_id}.tif", image_array(int(forgery_id)))
    save(root / "image" / f"{forgery_id}t.tif", image_array(10 + int(forgery_id)))
    mask = region(int(forgery_id))
    expect(result, split, f"image/{forgery_id}.tif", np.zeros((H, W), np.uint8))
    if forgery_id == "2":  # a mask of another size than its image
      small = region(2, H // 2, W // 2)
      save(root / "mask" / "2forged.tif", white_mask(small))
      mask = nearest(small, H, W)
    else:
      save(root / "mask" / f"{forgery_id}forged.tif", white_mask(mask))
    save(root / "mask" / f"{forgery_id}copy.tif", white_mask(region(50)))
    save(root / "mask" / f"{forgery_id}paste.tif", white_mask(region(51)))
    expect(result, split, f"image/{forgery_id}t.tif", mask)
  return result


def make_nist16(root):
  root, result = pathlib.Path(root), truth()
  base = root / "NC2016_Test0613"
  test_probe, test_mask = manual.split_list("nist16/nist16_test_probe_mask.txt")[0].split("|")
  rows = {  # task -> rows of (probe, mask, is_target, removal, splice, copyclone)
    "splice": [
      (test_probe, test_mask, "Y", "N", "Y", "N"),
      ("probe/NC2016_0001.jpg", "", "N", "N", "N", "N"),
    ],  # authentic probe
    "manipulation": [
      ("probe/NC2016_0002.jpg", "reference/manipulation/mask/NC2016_9002.png", "Y", "N", "N", "Y"),
      # the test probe with another mask in a CSV read before the splice one: the
      # SPAN list's mask is the one built
      (test_probe, "reference/manipulation/mask/NC2016_9009.png", "Y", "N", "N", "Y"),
    ],
    "remove": [
      ("probe/NC2016_0003.jpg", "reference/remove/mask/NC2016_9003.png", "Y", "Y", "N", "N"),
      # the same probe in a second task's CSV: deduplicated
      ("probe/NC2016_0002.jpg", "reference/manipulation/mask/NC2016_9002.png", "Y", "N", "N", "Y"),
    ],
  }
  csv_names = {
    "splice": "NC2016-splice-ref.csv",
    "manipulation": "NC2016-manipulation-ref.csv",
    "remove": "NC2016-removal-ref.csv",
  }
  header = (
    "TaskID|ProbeFileID|ProbeFileName|ProbeMaskFileName|DonorFileName|IsTarget|"
    "IsManipulationTypeRemoval|IsManipulationTypeSplice|IsManipulationTypeCopyClone"
  )
  seeds = {}
  for task, task_rows in rows.items():
    lines = [header]
    for probe, mask_name, target, removal, splice, copyclone in task_rows:
      lines.append(f"{task}|id|{probe}|{mask_name}||{target}|{removal}|{splice}|{copyclone}")
      if probe in seeds:
        if mask_name and not (base / mask_name).exists():  # a decoy mask of a probe seen
          save(base / mask_name, white_mask(region(seeds[probe] + 30), 255, 0))
        continue
      seeds[probe] = seed = 60 + len(seeds)
      save(base / probe, image_array(seed))
      if target == "Y":
        mask = region(seed)
        save(base / mask_name, white_mask(mask, 255, 0))  # inverted: black = manipulated
        split = "test" if probe == test_probe else "train"
        expect(result, split, probe, mask)
      # non-target probes are authentic, but world/ (below) is the authentic split
    (base / "reference" / task).mkdir(parents=True, exist_ok=True)
    (base / "reference" / task / csv_names[task]).write_text("\n".join(lines) + "\n")
  save(base / "world" / "NC2016_W001.jpg", image_array(69))
  expect(result, "authentic", "world/NC2016_W001.jpg", np.zeros((H, W), np.uint8))
  return result


def make_defacto(root):
  root, result = pathlib.Path(root), truth()
  test_entry = manual.split_list("defacto/defacto_test_6k.txt")[0]  # a copymove_img entry
  stem = pathlib.Path(test_entry).stem
  save(root / "copymove_img" / "img" / f"{stem}.tif", image_array(70))
  mask = region(70)
  save(root / "copymove_annotations" / "probe_mask" / f"{stem}.jpg", white_mask(mask), quality=90)
  expect(result, "test", test_entry, mask)
  save(root / "Splicing-images-2" / "img" / "2_000000123456.tif", image_array(71))  # variant
  mask = region(71)
  save(
    root / "Splicing-annotations-2" / "probe_mask" / "2_000000123456.jpg",
    white_mask(mask),
    quality=90,
  )  # JPEG: not binary
  expect(result, "train", "splicing_2_img/img/2_000000123456.tif", mask)
  save(root / "inpainting_img" / "img" / "0_000000777777.tif", image_array(72))
  small = region(72, H // 2, W // 2)
  save(root / "inpainting_annotations" / "probe_mask" / "0_000000777777.tif", white_mask(small))
  expect(result, "train", "inpainting_img/img/0_000000777777.tif", nearest(small, H, W))
  save(root / "inpainting_img" / "img" / "0_000000888888.tif", image_array(73))  # no mask
  result["skipped"][("train", "inpainting_img/img/0_000000888888.tif")] = "no mask"
  return result


def make_imd2020(root):
  root, result = pathlib.Path(root), truth()
  base = root / "IMD2020"  # nested one level deeper
  for split, list_name in (
    ("train", "imd2020_train_image_mask.txt"),
    ("test", "imd2020_test_image_mask.txt"),
  ):
    image, mask_name = manual.split_list(f"imd2020/{list_name}")[0].split(",")
    seed = 80 if split == "train" else 81
    save(base / image, image_array(seed))
    mask = region(seed)
    save(base / mask_name, white_mask(mask))
    folder = image.split("/")[0]
    save(base / folder / f"{folder}_orig.jpg", image_array(seed + 5))
    expect(result, split, image, mask)
    expect(result, "authentic", f"{folder}/{folder}_orig.jpg", np.zeros((H, W), np.uint8))
  return result


def make_iml_folder(root):
  root, result = pathlib.Path(root), truth()
  for k, (name, mask_name) in enumerate(
    (("a.jpg", "a_gt.png"), ("b.png", "b.png"), ("C.JPG", "C_mask.png"))
  ):
    save(root / "Tp" / name, image_array(90 + k))
    mask = region(90 + k)
    rgb = np.dstack([white_mask(mask, 0, 200)] * 3)  # mean(RGB) = 200 > 127.5
    save(root / "Gt" / mask_name, rgb)
    expect(result, "full", f"Tp/{name}", mask)
  save(root / "Tp" / "d.jpg", image_array(95))  # no mask: reported
  result["skipped"][("full", "Tp/d.jpg")] = "no mask"
  return result


def make_iml_json(root):
  root, result = pathlib.Path(root), truth()
  entries = []
  for k in range(2):
    save(root / "images" / f"t{k}.png", image_array(100 + k))
    mask = region(100 + k)
    save(root / "masks" / f"t{k}.png", white_mask(mask))
    entries.append([f"images/t{k}.png", f"masks/t{k}.png"])
    expect(result, "full", f"images/t{k}.png", mask)
  save(root / "images" / "real.png", image_array(110))
  entries.append(["images/real.png", "Negative"])
  expect(result, "full", "images/real.png", np.zeros((H, W), np.uint8))
  (root / "list.json").write_text(json.dumps(entries))
  return result


MAKERS = {
  "casia/v1": make_casia_v1,
  "casia/v2": make_casia_v2,
  "columbia": make_columbia,
  "coverage": make_coverage,
  "nist16": make_nist16,
  "defacto": make_defacto,
  "imd2020": make_imd2020,
  "iml_folder": make_iml_folder,
}

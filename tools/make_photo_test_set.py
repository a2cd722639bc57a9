"""Make a test set of edited photos, independently of ncl_jax.synthesis.

  python tools/make_photo_test_set.py --photos=DIR --cutouts=DIR --output=OUT [--per_kind=25]

Writes OUT/Tp/<kind>_<n>.{jpg,png} and OUT/Gt/<kind>_<n>.png (255 = edited; an
all-black mask for untouched photos) and OUT/test.json (IMDL-BenCo's list format,
"Negative" for the untouched ones), for `--config.test_datasets` or
`ncl_jax.predict`. The kinds: splicing (a region of another photo, or a cut-out
from `cutouts`, pasted in), copy-move (a region moved within the photo, rotated
and rescaled), removal (a region filled by biharmonic inpainting) and authentic.
Each result is 256-1024 px on its long side, saved as JPEG (quality 70-95) or PNG.

This script deliberately shares no code with ncl_jax.synthesis: other region
shapes (freehand lassos and rounded rectangles), another inpainting method
(scikit-image's biharmonic), another image library for the geometry (PIL), so the
report it supports measures generalization to edits made another way.
"""

import json
import pathlib

import numpy as np
from absl import app, flags
from PIL import Image, ImageDraw, ImageFilter
from skimage.restoration import inpaint_biharmonic

KINDS = ("splicing", "copy_move", "removal", "authentic")


def load_photo(path, long_side, rng):
  """The photo at `path`, resized to `long_side`, as RGB."""
  image = Image.open(path)
  image.draft("RGB", (long_side, long_side))
  image = image.convert("RGB")
  width, height = image.size
  aspect = rng.uniform(0.7, 1.5)
  crop_w = int(min(width, height * aspect * rng.uniform(0.6, 1.0)))
  crop_h = int(min(height, crop_w / aspect))
  left, top = rng.integers(0, width - crop_w + 1), rng.integers(0, height - crop_h + 1)
  image = image.crop((left, top, left + crop_w, top + crop_h))
  scale = long_side / max(image.size)
  return image.resize(
    (max(32, int(image.width * scale)), max(32, int(image.height * scale))), Image.LANCZOS
  )


def lasso(size, rng, area):
  """A freehand selection: a smoothed random walk around a centre."""
  width, height = size
  radius = np.sqrt(area * width * height / np.pi)
  cx, cy = rng.uniform(radius, width - radius), rng.uniform(radius, height - radius)
  angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
  wobble = np.convolve(rng.normal(0, 0.25, 48 + 8), np.ones(9) / 9, mode="valid")[:48]
  radii = radius * np.exp(wobble)
  points = [(cx + r * np.cos(a), cy + r * np.sin(a)) for r, a in zip(radii, angles)]
  mask = Image.new("L", size, 0)
  ImageDraw.Draw(mask).polygon(points, fill=255)
  return mask


def rounded_box(size, rng, area):
  """A mask of a rounded rectangle of about `area` of the image."""
  width, height = size
  box_w = int(np.sqrt(area * width * height) * rng.uniform(0.6, 1.6))
  box_h = int(area * width * height / max(box_w, 1))
  box_w, box_h = min(box_w, width - 2), min(box_h, height - 2)
  left, top = rng.integers(0, width - box_w), rng.integers(0, height - box_h)
  mask = Image.new("L", size, 0)
  ImageDraw.Draw(mask).rounded_rectangle(
    (left, top, left + box_w, top + box_h), radius=min(box_w, box_h) // 4, fill=255
  )
  return mask


def region(size, rng):
  """A random region's mask: a freehand lasso or a rounded box."""
  area = float(np.exp(rng.uniform(np.log(0.01), np.log(0.2))))
  return (lasso if rng.random() < 0.7 else rounded_box)(size, rng, area)


def splice(image, donor_path, cutouts, rng):
  """(image with a region of a donor photo or a cut-out pasted in, its mask)."""
  if cutouts and rng.random() < 0.5:
    cutout = Image.open(cutouts[rng.integers(len(cutouts))]).convert("RGBA")
    scale = rng.uniform(0.2, 0.5) * min(image.size) / max(cutout.size)
    cutout = cutout.resize(
      (max(8, int(cutout.width * scale)), max(8, int(cutout.height * scale))), Image.LANCZOS
    )
    left = rng.integers(0, image.width - cutout.width + 1)
    top = rng.integers(0, image.height - cutout.height + 1)
    mask = Image.new("L", image.size, 0)
    mask.paste(cutout.getchannel("A").point(lambda a: 255 if a >= 128 else 0), (left, top))
    result = image.copy()
    result.paste(cutout, (left, top), cutout)
    return result, mask
  donor = load_photo(donor_path, max(image.size), rng).resize(image.size, Image.BICUBIC)
  mask = region(image.size, rng)
  soft = mask.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.5)))
  return Image.composite(donor, image, soft), mask


def copy_move(image, rng):
  """(image with one of its regions moved, rotated and rescaled, its mask)."""
  mask = region(image.size, rng)
  box = mask.getbbox()
  patch = image.crop(box)
  patch_mask = mask.crop(box)
  angle, scale = rng.uniform(-25, 25), rng.uniform(0.8, 1.2)
  size = (max(4, int(patch.width * scale)), max(4, int(patch.height * scale)))
  patch = patch.resize(size, Image.BICUBIC).rotate(angle, Image.BICUBIC, expand=True)
  patch_mask = patch_mask.resize(size, Image.NEAREST).rotate(angle, Image.NEAREST, expand=True)
  left = rng.integers(0, max(1, image.width - patch.width))
  top = rng.integers(0, max(1, image.height - patch.height))
  result = image.copy()
  result.paste(patch, (left, top), patch_mask)
  moved = Image.new("L", image.size, 0)
  moved.paste(patch_mask, (left, top))
  return result, moved.point(lambda v: 255 if v >= 128 else 0)


def removal(image, rng):
  """(image with a region filled by biharmonic inpainting, its mask)."""
  mask = region(image.size, rng)
  pixels = np.asarray(image, np.float64) / 255
  hole = np.asarray(mask) > 0
  filled = inpaint_biharmonic(pixels, hole, channel_axis=-1)
  return Image.fromarray((np.clip(filled, 0, 1) * 255).round().astype(np.uint8)), mask


FLAGS = flags.FLAGS


def define_flags():
  """Flags, defined only when run as a program."""
  flags.DEFINE_string("photos", None, "Folder of authentic photos to edit (searched recursively).")
  flags.DEFINE_string("cutouts", "", "Folder of RGBA cut-outs pasted in by some splices (same).")
  flags.DEFINE_string("output", None, "Where Tp/, Gt/ and test.json go.")
  flags.DEFINE_integer("per_kind", 25, "Images per kind (splicing, copy-move, removal, authentic).")
  flags.DEFINE_integer("seed", 1234, "Seed of every random choice.")
  flags.mark_flags_as_required(["photos", "output"])


def main(argv):
  """Makes the test set."""
  del argv
  args = FLAGS
  rng = np.random.default_rng(args.seed)
  photos = sorted(p for p in pathlib.Path(args.photos).rglob("*") if p.is_file())
  cutouts = (
    sorted(p for p in pathlib.Path(args.cutouts).rglob("*") if p.is_file()) if args.cutouts else []
  )
  out = pathlib.Path(args.output)
  (out / "Tp").mkdir(parents=True, exist_ok=True)
  (out / "Gt").mkdir(parents=True, exist_ok=True)
  entries = []
  for kind in KINDS:
    for n in range(args.per_kind):
      host = photos[rng.integers(len(photos))]
      image = load_photo(host, int(rng.integers(256, 1025)), rng)
      if kind == "splicing":
        others = [p for p in photos if p != host]
        image, mask = splice(image, others[rng.integers(len(others))], cutouts, rng)
      elif kind == "copy_move":
        image, mask = copy_move(image, rng)
      elif kind == "removal":
        image, mask = removal(image, rng)
      else:
        mask = None
      name = f"{kind}_{n:03d}"
      if rng.random() < 0.7:
        path = out / "Tp" / f"{name}.jpg"
        image.save(path, quality=int(rng.integers(70, 96)))
      else:
        path = out / "Tp" / f"{name}.png"
        image.save(path)
      if mask is None:
        entries.append([str(path), "Negative"])
      else:
        mask.save(out / "Gt" / f"{name}.png")
        entries.append([str(path), str(out / "Gt" / f"{name}.png")])
  (out / "test.json").write_text(json.dumps(entries, indent=1))
  print(f"wrote {len(entries)} images to {out}")


if __name__ == "__main__":
  define_flags()
  app.run(main)

"""A small IML dataset of generated files and a fixed "model", for checking our
IMDL-BenCo protocol against IMDL-BenCo's own pipeline end to end.

`write_dataset(root)` writes root/Tp/*, root/Gt/* and root/test.json (IMDL-BenCo's
JSON list, "Negative" for the untouched images): manipulated and untouched images,
JPEG and PNG, smaller than 512, between 512 and 1024 and larger than 1024 px on a
side, with PNG and JPEG masks whose edges are grey. `fixed_map(images)` is the
"model": a pure function of the normalized input image, so both pipelines get the
same probabilities exactly when they feed the model the same pixels.
"""

import io
import json
import pathlib

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# (name, (height, width), image format, mask format or None for an untouched image)
FILES = (
  ("small", (200, 300), "JPEG", "PNG"),
  ("square", (512, 512), "PNG", "PNG"),
  ("medium", (600, 700), "PNG", "JPEG"),
  ("large", (1300, 1100), "JPEG", "PNG"),
  ("plain", (480, 640), "JPEG", None),
  ("plain_small", (300, 256), "PNG", None),
)
EXTENSIONS = {"JPEG": "jpg", "PNG": "png"}


def image_and_mask(index: int, shape):
  """uint8 [H, W, 3] and the grey-edged uint8 [H, W] mask of file `index`."""
  rng = np.random.default_rng(index)
  height, width = shape
  rows, cols = np.mgrid[0:height, 0:width]
  base = np.stack(
    [128 + 60 * np.sin(cols / 37.0 + index), 128 + 50 * np.cos(rows / 23.0), 110 + 0 * rows],
    axis=-1,
  )
  image = base + rng.normal(0, 12, base.shape)
  mask = Image.new("L", (width, height), 0)
  box = [int(width * 0.3), int(height * 0.25), int(width * 0.7), int(height * 0.65)]
  ImageDraw.Draw(mask).ellipse(box, fill=255)
  mask = np.asarray(mask.filter(ImageFilter.GaussianBlur(3)))  # grey edges
  edited = mask > 0
  image[edited, 0] += 50  # the edit: redder, which the fixed model sees
  image[edited, 2] -= 40
  # A pure green square in an untouched corner, where the fixed model says exactly
  # 0.5: a threshold of >= instead of > calls it edited.
  side = max(8, min(height, width) // 8)
  image[-side - 4 : -4, 4 : side + 4] = (0, 255, 0)
  return np.clip(image, 0, 255).astype(np.uint8), mask


def encoded(array, fmt) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(array).save(buffer, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
  return buffer.getvalue()


def write_dataset(root) -> pathlib.Path:
  """Writes the files and root/test.json; returns the JSON's path."""
  root = pathlib.Path(root)
  (root / "Tp").mkdir(parents=True, exist_ok=True)
  (root / "Gt").mkdir(parents=True, exist_ok=True)
  entries = []
  for index, (name, shape, image_format, mask_format) in enumerate(FILES):
    image, mask = image_and_mask(index, shape)
    image_path = root / "Tp" / f"{name}.{EXTENSIONS[image_format]}"
    image_path.write_bytes(encoded(image, image_format))
    if mask_format is None:
      entries.append([str(image_path), "Negative"])
      continue
    mask_path = root / "Gt" / f"{name}.{EXTENSIONS[mask_format]}"
    mask_path.write_bytes(encoded(mask, mask_format))
    entries.append([str(image_path), str(mask_path)])
  listing = root / "test.json"
  listing.write_text(json.dumps(entries, indent=1))
  return listing


def fixed_map(images: np.ndarray) -> np.ndarray:
  """float [batch, H, W, 3] normalized images -> float32 [batch, H, W] probabilities:
  the sigmoid of how much redder than blue a pixel is, shifted by the whole input's
  mean red (so the padding's values count, as they do for a real network); exactly
  0.5 where it is bright green (the normalized green channel above 2)."""
  images = np.asarray(images, np.float64)
  shift = 0.5 * images[..., 0].mean(axis=(1, 2), keepdims=True)
  redder = 1 / (1 + np.exp(-3.0 * (images[..., 0] - images[..., 2] - 0.8) - shift))
  return np.where(images[..., 1] > 2.0, 0.5, redder).astype(np.float32)

"""The feature set every NCL dataset builder produces.

Images are kept as their original encoded file bytes (compression traces are
forensic evidence, and TIFF/BMP are not TFDS image formats); masks are binary
PNGs with 255 = manipulated. Decoding happens in the input pipeline, so neither
building nor reading needs TensorFlow.
"""

import io

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

LABEL_NAMES = ("authentic", "manipulated")


def features():
  """The TFDS features of every NCL dataset: encoded image bytes, a binary PNG mask,
  the label and the file name."""
  return tfds.features.FeaturesDict(
    {
      "image": tfds.features.Tensor(shape=(), dtype=np.object_),  # encoded file bytes
      "image_format": tfds.features.Text(),  # "jpeg", "png", "tiff", ...
      "mask": tfds.features.Tensor(shape=(), dtype=np.object_),  # PNG bytes, 255 = manipulated
      "label": tfds.features.ClassLabel(names=LABEL_NAMES),
      "has_mask": tfds.features.Scalar(dtype=np.bool_),
      "file_name": tfds.features.Text(),
      "manipulation_type": tfds.features.Text(),  # "" where unknown
      "height": tfds.features.Scalar(dtype=np.int32),  # original image size
      "width": tfds.features.Scalar(dtype=np.int32),
    }
  )


def encode_mask(mask) -> bytes:
  """uint8/bool [H, W] with nonzero = manipulated -> PNG bytes with values {0, 255}."""
  buffer = io.BytesIO()
  Image.fromarray((np.asarray(mask) > 0).astype(np.uint8) * 255).save(buffer, "PNG")
  return buffer.getvalue()


def make_example(image_bytes, image_format, mask, file_name, manipulation_type="", has_mask=True):
  """One example dict from the original file bytes and a binary mask [H, W]."""
  mask = np.asarray(mask)
  label = int(mask.any())
  return {
    "image": image_bytes,
    "image_format": image_format,
    "mask": encode_mask(mask),
    "label": label,
    "has_mask": bool(has_mask),
    "file_name": file_name,
    "manipulation_type": manipulation_type,
    "height": int(mask.shape[0]),
    "width": int(mask.shape[1]),
  }

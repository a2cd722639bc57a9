"""Image and mask operations shared by the input pipeline, evaluation, inference and
the forgery synthesis: decoding, conversion to 8-bit RGB, resizing, normalization.

Everything here is NumPy + PIL on the host; arrays are uint8 [H, W, 3] images and
uint8 [H, W] masks in {0, 1} unless a docstring says otherwise.
"""

import io

import cv2
import numpy as np
from PIL import Image, ImageOps

from ncl_jax.normalization import IMAGENET_MEAN, IMAGENET_STD, NORMALIZED_VALUES

MASK_THRESHOLD = 127
# Refuse images whose decoding alone could exhaust memory (decompression bombs).
MAX_IMAGE_PIXELS = 100_000_000
# What to do with a mask whose size differs from its image's.
MASK_SIZE_POLICIES = ("resize", "skip")


class DecodeError(ValueError):
  """An example that cannot be used: unreadable bytes, or a policy says skip."""


def to_uint8(array: np.ndarray) -> np.ndarray:
  """Any numeric array -> uint8. 8-bit values are kept; a wider range (16-bit
  scans, float images) is scaled from [0, 65535] when its maximum exceeds 255,
  else clipped to [0, 255]."""
  array = np.asarray(array)
  if array.dtype == np.uint8:
    return array
  array = array.astype(np.float32)
  peak = 65535.0 if array.size and array.max() > 255 else 255.0
  return (np.clip(array, 0, peak) / peak * 255).astype(np.uint8)


def to_rgb(image: Image.Image) -> np.ndarray:
  """Any PIL mode (L, LA, P, RGBA, CMYK, I;16, F, ...) -> uint8 [H, W, 3]."""
  if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
    image = Image.fromarray(to_uint8(np.asarray(image)))
  return np.asarray(image.convert("RGB"), np.uint8)


def array_to_rgb(array) -> np.ndarray:
  """[H, W], [H, W, 1], [H, W, 3] or [H, W, 4] of any numeric dtype -> uint8 [H, W, 3]."""
  array = np.asarray(array)
  if array.ndim == 2:
    array = array[..., None]
  if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
    raise ValueError(
      f"an image array must be [H, W], [H, W, 1], [H, W, 3] or [H, W, 4]; got {array.shape}"
    )
  array = to_uint8(array)
  return np.repeat(array, 3, -1) if array.shape[-1] == 1 else array[..., :3]


def decode_image(data: bytes, file_name: str = "", exif_transpose: bool = False) -> np.ndarray:
  """Encoded bytes -> uint8 [H, W, 3]; DecodeError naming the file on failure.

  `exif_transpose` applies the EXIF orientation (for photos given to the model;
  dataset masks are aligned with the stored pixels, so training does not)."""
  return decode_reduced(data, file_name, None, exif_transpose)[0]


def decode_reduced(data: bytes, file_name: str = "", min_size=None, exif_transpose: bool = False):
  """(uint8 [h, w, 3], (H, W) of the full image): a JPEG much larger than
  `min_size` (height, width) is decoded at 1/2, 1/4 or 1/8 scale in the DCT domain
  (JPEG draft mode), never below `min_size`; anything else is decoded whole.
  Training, evaluation and prediction all reduce images this way before resizing
  them to the model's input, so the model sees one kind of downscaling."""
  name = file_name or "image"
  try:
    with Image.open(io.BytesIO(data)) as image:
      width, height = image.size
      if width * height > MAX_IMAGE_PIXELS:
        raise DecodeError(
          f"{name}: {width}x{height} pixels is over the limit of "
          f"{MAX_IMAGE_PIXELS} (a decompression bomb?)"
        )
      scale = 1
      if min_size is not None and image.format == "JPEG":
        reduced = image.draft("RGB", (int(min_size[1]), int(min_size[0])))
        scale = round(width / reduced[1][2]) if reduced else 1
      if not exif_transpose and image.mode == "RGB" and image.format in ("JPEG", "PNG"):
        rgb = _decode_rgb_with_opencv(data, scale)
        if rgb is not None and rgb.shape[:2] == image.size[::-1]:
          return rgb, (height, width)
      image.load()
      if exif_transpose:
        orientation = image.getexif().get(0x0112, 1)
        if orientation in (5, 6, 7, 8):
          height, width = width, height
        image = ImageOps.exif_transpose(image)
      return to_rgb(image), (height, width)
  except DecodeError:
    raise
  except Image.DecompressionBombError as error:
    raise DecodeError(
      f"{name}: over the limit of {MAX_IMAGE_PIXELS} pixels (a decompression bomb?): {error}"
    ) from error
  except Exception as error:  # PIL raises many types on malformed files
    raise DecodeError(f"{name}: cannot decode ({type(error).__name__}: {error})") from error


# OpenCV's reduced JPEG decoding, by the DCT scale Pillow's draft mode chose.
_OPENCV_REDUCED = {
  1: cv2.IMREAD_COLOR,
  2: cv2.IMREAD_REDUCED_COLOR_2,
  4: cv2.IMREAD_REDUCED_COLOR_4,
  8: cv2.IMREAD_REDUCED_COLOR_8,
}


def _decode_rgb_with_opencv(data: bytes, scale: int):
  """uint8 [h, w, 3] of an 8-bit RGB JPEG or PNG decoded by OpenCV, which links
  the same libjpeg-turbo and zlib as Pillow and gives the same pixels in less
  time; None where OpenCV does not read it (Pillow then decodes it)."""
  flags = _OPENCV_REDUCED[scale] | cv2.IMREAD_IGNORE_ORIENTATION
  bgr = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
  if bgr is None or bgr.dtype != np.uint8:
    return None
  return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def binarize_mask(array: np.ndarray) -> np.ndarray:
  """uint8 [H, W] or [H, W, C] -> uint8 [H, W] in {0, 1}, manipulated where > 127."""
  if array.ndim == 3:
    array = array[..., :3].mean(axis=-1)
  return (array > MASK_THRESHOLD).astype(np.uint8)


def decode_mask(data: bytes, file_name: str = ""):
  """PNG/JPEG/... bytes -> (uint8 [H, W] in {0, 1}, whether it had other values than 0/255)."""
  try:
    with Image.open(io.BytesIO(data)) as image:
      gray = np.asarray(image.convert("L"))
  except Exception as error:  # PIL raises many types on malformed files
    raise DecodeError(
      f"{file_name or 'mask'}: cannot decode the mask ({type(error).__name__}: {error})"
    ) from error
  nonbinary = bool(np.any((gray != 0) & (gray != 255)))
  return binarize_mask(gray), nonbinary


def jpeg_roundtrip(image, quality: int) -> np.ndarray:
  """uint8 [H, W, 3] RGB -> uint8 after one JPEG save and decode at `quality`
  (libjpeg-turbo's baseline JPEG with 4:2:0 chroma, as Pillow writes it)."""
  ok, data = cv2.imencode(
    ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
  )
  if not ok:
    raise ValueError(f"OpenCV could not encode a {image.shape} image as JPEG")
  return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def resize_image(image: np.ndarray, size) -> np.ndarray:
  """uint8 [H, W, 3] -> uint8 [size[0], size[1], 3], bilinear."""
  if image.shape[:2] == tuple(size):
    return image
  return np.asarray(Image.fromarray(image).resize((size[1], size[0]), Image.BILINEAR))


def resize_mask(mask: np.ndarray, size) -> np.ndarray:
  """uint8 [H, W] -> uint8 [size[0], size[1]], nearest neighbour (stays binary)."""
  if mask.shape == tuple(size):
    return mask
  return np.asarray(Image.fromarray(mask).resize((size[1], size[0]), Image.NEAREST))


def resize_probabilities(probabilities: np.ndarray, size) -> np.ndarray:
  """float32 [h, w] -> [size[0], size[1]], bilinear (back to an image's original size)."""
  if probabilities.shape == tuple(size):
    return probabilities
  resized = Image.fromarray(probabilities.astype(np.float32), "F").resize(
    (int(size[1]), int(size[0])), Image.BILINEAR
  )
  return np.clip(np.asarray(resized), 0.0, 1.0)


def normalize(image: np.ndarray) -> np.ndarray:
  """uint8 [H, W, 3] -> float32 ImageNet-normalized, (image - mean) / std,
  looked up per channel (the same numbers as the arithmetic, in half the time)."""
  if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
    return (image.astype(np.float32) - IMAGENET_MEAN) / IMAGENET_STD
  normalized = np.empty(image.shape, np.float32)
  for channel in range(3):
    normalized[..., channel] = NORMALIZED_VALUES[channel][image[..., channel]]
  return normalized


def model_input(image: np.ndarray, image_size: int) -> np.ndarray:
  """uint8 [H, W, 3] of any size -> float32 [image_size, image_size, 3], as evaluated."""
  return normalize(resize_image(image, (image_size, image_size)))

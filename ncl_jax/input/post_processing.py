"""Global post-processing of training images, as IMDL-BenCo trains with
(`get_albu_transforms("train")`: random scale, brightness and contrast, JPEG,
Gaussian blur; flips and quarter turns are `input.random_flip` and
`input.random_rotate`), applied to authentic and edited images alike.

Each operation is drawn only where its knob is on, so a config without them
draws the random numbers it always did.
"""

import dataclasses

import cv2
import numpy as np

from ncl_jax.input.imaging import jpeg_roundtrip, resize_image


@dataclasses.dataclass(frozen=True)
class PostProcessing:
  """The knobs (`config.input.post_processing`); zeros switch an operation off."""

  scale: float = 0.0  # the image is resized by 1 + U(-scale, scale) first (IMDL-BenCo: 0.2)
  brightness: float = 0.0  # beta ~ U(-b, b), as albumentations' RandomBrightnessContrast (0.1)
  contrast: float = 0.0  # alpha ~ 1 + U(-c, c) (IMDL-BenCo: 0.1)
  jpeg_probability: float = 0.0  # a JPEG save and decode (IMDL-BenCo: 0.2) ...
  jpeg_quality: tuple[int, int] = (70, 100)  # ... at a quality drawn from this range
  blur_probability: float = 0.0  # a Gaussian blur (IMDL-BenCo: 0.2) ...
  blur_kernel: tuple[int, int] = (3, 7)  # ... of an odd kernel size in this range

  @classmethod
  def from_config(cls, section) -> "PostProcessing":
    """From `config.input.post_processing` (a mapping of knob -> value)."""
    return cls(**{k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in section.items()})

  @property
  def active(self) -> bool:
    """Whether any operation is on."""
    return bool(
      self.scale
      or self.brightness
      or self.contrast
      or self.jpeg_probability
      or self.blur_probability
    )


def scaled(image: np.ndarray, rng, knobs: PostProcessing) -> np.ndarray:
  """uint8 [H, W, 3] resized (bilinear) by 1 + U(-scale, scale), where scale > 0."""
  if not knobs.scale:
    return image
  factor = 1.0 + rng.uniform(-knobs.scale, knobs.scale)
  height, width = image.shape[:2]
  return resize_image(image, (max(1, round(height * factor)), max(1, round(width * factor))))


def brightness_contrast(image: np.ndarray, alpha: float, beta: float) -> np.ndarray:
  """albumentations' uint8 brightness/contrast (brightness by the maximum, its
  default): every value v becomes clip(v * alpha + beta * 255), truncated."""
  table = np.arange(256, dtype=np.float32) * alpha + beta * 255.0
  return cv2.LUT(image, np.clip(table, 0, 255).astype(np.uint8))


def photometric(image: np.ndarray, rng, knobs: PostProcessing) -> np.ndarray:
  """uint8 [H, W, 3] after the drawn brightness/contrast change, JPEG and blur."""
  if knobs.brightness or knobs.contrast:
    alpha = 1.0 + rng.uniform(-knobs.contrast, knobs.contrast)
    beta = rng.uniform(-knobs.brightness, knobs.brightness)
    image = brightness_contrast(image, alpha, beta)
  if knobs.jpeg_probability and rng.random() < knobs.jpeg_probability:
    quality = int(rng.integers(*knobs.jpeg_quality, endpoint=True))
    image = jpeg_roundtrip(image, quality)
  if knobs.blur_probability and rng.random() < knobs.blur_probability:
    sizes = np.arange(knobs.blur_kernel[0] | 1, knobs.blur_kernel[1] + 1, 2)
    size = int(rng.choice(sizes))
    image = cv2.GaussianBlur(image, (size, size), 0)  # sigma from the size (albumentations 1.x)
  return np.ascontiguousarray(image)

"""One forgery, or one authentic image, with the life of a real photo
(docs/synthesis.md):

1. a "camera" image: a crop of an authentic photo at its own scale (a long side
   drawn between `camera_long_side`, never above the photo's), usually saved
   as a JPEG at a random camera quality and decoded again;
2. the edit, made on the decoded image (splicing, copy-move or removal; none for
   the authentic share);
3. sometimes a global rescale of the result;
4. the final save: a JPEG at another quality whose 8x8 grid is shifted from the
   camera's (the image is cropped by a few pixels first), or a PNG.

Authentic images live the same life, so compression alone tells nothing. Every
forgery is a pure function of (seed, index): an endless, reproducible stream.
"""

import dataclasses

import cv2
import numpy as np

from ncl_jax.synthesis import edits

KINDS = ("authentic", "splicing", "copy_move", "removal")


@dataclasses.dataclass(frozen=True)
class SynthesisConfig:
  """Every knob of the recipe (`config.synthesis` in a config file)."""

  camera_long_side: tuple[int, int] = (384, 2048)  # pixels, drawn log-uniformly
  camera_jpeg_probability: float = 0.9
  camera_quality: tuple[int, int] = (70, 98)
  # False: the camera's JPEG save is drawn as always but not made, so every other
  # draw, and so the forgery, stays that of True (a validation variant without it).
  keep_camera_jpeg: bool = True
  authentic_fraction: float = 0.25
  # The share of untouched images into which a cut-out is pasted before the camera's
  # resize and JPEG save (when there are cut-outs): an object in the scene, whose
  # mask stays empty.
  staged_cutout_probability: float = 0.0
  splicing_weight: float = 0.4
  copy_move_weight: float = 0.3
  removal_weight: float = 0.3
  region_area: tuple[float, float] = (0.005, 0.25)  # fraction of the image, log-uniform
  cutout_probability: float = 0.5  # a splice uses a cut-out donor when there are any
  donor_jpeg_probability: float = 0.7
  donor_quality: tuple[int, int] = (60, 98)
  donor_scale: tuple[float, float] = (0.5, 1.5)
  colour_match_probability: float = 0.5
  feather_probability: float = 0.5
  feather_sigma: tuple[float, float] = (0.5, 3.0)  # pixels at camera scale
  content_blur_probability: float = 0.2
  content_noise_probability: float = 0.2
  copy_move_scale: tuple[float, float] = (0.75, 1.3)
  copy_move_rotation: float = 30.0  # degrees, either way
  copy_move_flip_probability: float = 0.2
  inpaint_radius: tuple[int, int] = (3, 9)
  # removal by: OpenCV Telea, OpenCV Navier-Stokes, a smooth fill, a cloned patch
  removal_method_weights: tuple[float, float, float, float] = (0.3, 0.3, 0.2, 0.2)
  # The share of removals whose region is a cut-out's silhouette (when there are
  # cut-outs): dilated, of an area in `silhouette_area`, over the most textured
  # of a few places; the others are regions of regions.py.
  removal_silhouette_probability: float = 0.0
  silhouette_area: tuple[float, float] = (0.01, 0.25)  # fraction of the image, log-uniform
  silhouette_dilation: tuple[int, int] = (2, 8)  # pixels at camera scale
  # Pyramid levels of the smooth fill (1: its finest scale only, which leaves a
  # region's inside black; more fill the inside from coarser levels).
  smooth_fill_levels: int = 1
  rescale_probability: float = 0.3
  rescale_range: tuple[float, float] = (0.5, 0.95)
  final_png_probability: float = 0.25
  final_quality: tuple[int, int] = (65, 98)
  grid_shift_probability: float = 0.8

  def __post_init__(self):
    # A tuple flag given twice on the command line arrives concatenated.
    for field in dataclasses.fields(self):
      value, expected = getattr(self, field.name), len(getattr(field.type, "__args__", ()))
      if expected and len(value) != expected:
        raise ValueError(f"synthesis.{field.name}={value!r}: expected {expected} values")

  @classmethod
  def from_config(cls, section) -> "SynthesisConfig":
    """From a mapping of knob -> value (missing knobs keep their defaults)."""
    values = dict(section or {})
    unknown = set(values) - {field.name for field in dataclasses.fields(cls)}
    if unknown:
      raise ValueError(f"unknown synthesis knob(s): {sorted(unknown)}")
    return cls(**{k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in values.items()})


@dataclasses.dataclass(frozen=True)
class Forgery:
  """A synthesized example: the final file's bytes and format, its mask and kind."""

  image_bytes: bytes  # the final file, as a user would have it
  image_format: str  # "jpeg" or "png"
  mask: np.ndarray  # uint8 [H, W] in {0, 1}, at the final file's size
  kind: str  # one of KINDS
  photo: str  # the host photo's name


def camera_image(rng, photo_rgb, knobs: SynthesisConfig) -> np.ndarray:
  """uint8 [h, w, 3]: a random crop of the photo at a random camera scale, usually
  JPEG'd once (a view of the photo where neither happened)."""
  height, width = photo_rgb.shape[:2]
  aspect = float(np.exp(rng.uniform(np.log(0.6), np.log(1.67))))
  crop_area = rng.uniform(0.4, 1.0) * height * width
  crop_h = int(min(height, np.sqrt(crop_area / aspect)))
  crop_w = int(min(width, crop_h * aspect))
  top = int(rng.integers(0, height - crop_h + 1))
  left = int(rng.integers(0, width - crop_w + 1))
  crop = photo_rgb[top : top + crop_h, left : left + crop_w]
  low, high = knobs.camera_long_side
  long_side = min(float(np.exp(rng.uniform(np.log(low), np.log(high)))), max(crop.shape[:2]))
  scale = long_side / max(crop.shape[:2])
  if scale < 1.0:
    crop = cv2.resize(
      crop,
      (max(8, round(crop_w * scale)), max(8, round(crop_h * scale))),
      interpolation=cv2.INTER_AREA,
    )
  if rng.random() < knobs.camera_jpeg_probability:
    quality = int(rng.integers(*knobs.camera_quality, endpoint=True))
    if knobs.keep_camera_jpeg:
      crop = edits.jpeg_roundtrip(crop, quality)
  return crop


def draw_kind(rng, knobs: SynthesisConfig) -> str:
  """One of KINDS, with the configured authentic share and edit weights."""
  if rng.random() < knobs.authentic_fraction:
    return "authentic"
  weights = np.array([knobs.splicing_weight, knobs.copy_move_weight, knobs.removal_weight])
  return str(rng.choice(KINDS[1:], p=weights / weights.sum()))


def final_save(rng, pixels, mask, knobs: SynthesisConfig, png_compression: int = 1):
  """(bytes, format, mask) of uint8 [H, W, 3] pixels: an optional rescale, then a
  JPEG with a shifted grid or a PNG (zlib level `png_compression`: the same
  pixels at any level)."""
  if rng.random() < knobs.rescale_probability:
    factor = float(rng.uniform(*knobs.rescale_range))
    size = (max(16, round(pixels.shape[1] * factor)), max(16, round(pixels.shape[0] * factor)))
    pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
  if rng.random() < knobs.final_png_probability:
    return encode(pixels, ".png", png_options(png_compression)), "png", mask
  if rng.random() < knobs.grid_shift_probability:
    dy, dx = (int(v) for v in rng.integers(1, 8, 2))
    pixels, mask = pixels[dy:, dx:], mask[dy:, dx:]
  quality = int(rng.integers(*knobs.final_quality, endpoint=True))
  return encode(pixels, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, quality]), "jpeg", mask


def png_options(compression: int) -> list:
  """OpenCV's PNG options at a zlib level; level 0 also leaves rows unfiltered (a
  stored file, written and read at the speed of a copy)."""
  options = [cv2.IMWRITE_PNG_COMPRESSION, compression]
  return options + (
    [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_NONE] if compression == 0 else []
  )


def encode(pixels, extension: str, options: list) -> bytes:
  """uint8 [H, W, 3] RGB -> the bytes of an image file (libjpeg-turbo's baseline
  JPEG with 4:2:0 chroma, the bytes Pillow writes at the same quality; or PNG)."""
  ok, data = cv2.imencode(extension, cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR), options)
  if not ok:
    raise ValueError(f"OpenCV could not encode a {pixels.shape} image as {extension}")
  return data.tobytes()


def synthesize(
  rng,
  host,
  donor: object | None,
  knobs: SynthesisConfig,
  host_name: str = "",
  kind: str | None = None,
  png_compression: int = 1,
) -> Forgery:
  """One example from a host Photo (and a donor Photo for splicing, a cut-out
  whose silhouette a removal takes, or a cut-out staged in an untouched image's
  scene before its camera). `kind`
  defaults to a draw from the configured weights; `png_compression` is the zlib
  level of a PNG (level 0: the same pixels, written and read in a fraction of
  the time, for files decoded at once and never stored)."""
  kind = kind or draw_kind(rng, knobs)
  scene = host.rgb
  if kind == "authentic" and donor is not None:
    scene = edits.splice(rng, scene, donor, knobs).apply(scene)
  pixels = camera_image(rng, scene, knobs)
  mask = np.zeros(pixels.shape[:2], np.uint8)
  if kind != "authentic":
    if kind == "splicing":
      result = edits.splice(rng, pixels, donor, knobs)
    elif kind == "copy_move":
      result = edits.copy_move(rng, pixels, knobs)
    else:  # a removal's donor, when there is one, is a cut-out whose silhouette it removes
      result = edits.removal(rng, pixels, knobs, silhouette_of=donor)
    pixels, mask = result.apply(pixels), result.mask
  image_bytes, image_format, mask = final_save(rng, pixels, mask, knobs, png_compression)
  if kind != "authentic" and not mask.any():
    kind = "authentic"  # the edit fell outside the final crop (vanishingly rare)
  return Forgery(image_bytes, image_format, mask, kind, host_name)

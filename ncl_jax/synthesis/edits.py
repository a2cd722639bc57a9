"""The three edits, each returning the exact mask of the pixels it changed and
their new values: splicing from another photo (or a cut-out), copy-move within
the photo (scaled, rotated, maybe mirrored), and removal by inpainting.

An edit reads a uint8 [H, W, 3] photo at its own ("camera") scale and returns
an `Edit`: the uint8 [H, W] mask in {0, 1} of the pixels it changed and the new
float32 pixels of the one box it changed, the mask's bounding box widened by
what its blurs reach (`margin`); so its cost follows the size of the edit, not
of the photo. `knobs` is a SynthesisConfig (see recipe.py).
"""

import dataclasses

import cv2
import numpy as np

from ncl_jax.input.imaging import jpeg_roundtrip
from ncl_jax.synthesis import regions

CONTENT_BLUR_SIGMA = (0.4, 1.5)  # pixels, the optional blur of inserted content


@dataclasses.dataclass(frozen=True)
class Edit:
  """An edit's result: `mask`, uint8 [H, W] in {0, 1}; `box`, (rows, cols)
  slices; `pixels`, float32 [box rows, box cols, 3], the box's new values."""

  mask: np.ndarray
  box: tuple
  pixels: np.ndarray

  def apply(self, image: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3]: a copy of `image` with the box's new pixels, rounded."""
    edited = image.copy()
    edited[self.box] = to_uint8(self.pixels)
    return edited


def to_uint8(image) -> np.ndarray:
  """float [H, W, C] -> uint8, rounded half to even and clipped to [0, 255]."""
  rounded = np.rint(image)
  np.clip(rounded, 0, 255, out=rounded)
  return rounded.astype(np.uint8)


def _uniform(rng, bounds):
  low, high = bounds
  return float(rng.uniform(low, high))


def blur_radius(sigma: float) -> int:
  """How far OpenCV's Gaussian blur of a float image reaches (its kernel's half width)."""
  return (int(round(sigma * 8 + 1)) | 1) // 2


def margin(knobs) -> int:
  """Pixels around an edit's region that its feathered edge and blurred content
  can change or read: beyond them, the result equals the untouched host."""
  return blur_radius(knobs.feather_sigma[1]) + blur_radius(CONTENT_BLUR_SIGMA[1]) + 1


def match_colour(content, host, mask, strength):
  """Move each channel of `content` inside `mask` toward the host's mean and
  spread there (strength 1: equal statistics)."""
  region = mask.astype(bool)
  if region.sum() < 16:
    return content
  src, dst = content[region], host[region]
  gain = (dst.std(0) + 1e-3) / (src.std(0) + 1e-3)
  # (1 - strength) * content + strength * ((content - src mean) * gain + dst mean):
  # one affine map per channel, two passes over the pixels.
  scale = (1 - strength) + strength * gain
  offset = strength * (dst.mean(0) - src.mean(0) * gain)
  return content * scale.astype(np.float32) + offset.astype(np.float32)


def degrade(rng, content, knobs):
  """Optional blur and sensor-like noise on inserted content."""
  if rng.random() < knobs.content_blur_probability:
    content = cv2.GaussianBlur(content, (0, 0), _uniform(rng, CONTENT_BLUR_SIGMA))
  if rng.random() < knobs.content_noise_probability:
    sigma = np.float32(_uniform(rng, (1.0, 6.0)))
    content = content + rng.standard_normal(content.shape, np.float32) * sigma
  return content


def composite(rng, host, content, mask, box, knobs) -> Edit:
  """`content` (float32 pixels of `box`) blended into the host's box through
  `mask`, with a feathered edge sometimes, which keeps every pixel of the mask
  at least half `content` and every other at most 0.49."""
  alpha = mask[box].astype(np.float32)
  if rng.random() < knobs.feather_probability:
    blurred = cv2.GaussianBlur(alpha, (0, 0), _uniform(rng, knobs.feather_sigma))
    alpha = np.where(alpha > 0, np.maximum(blurred, 0.5), np.minimum(blurred, 0.49))
  alpha = alpha[..., None]
  return Edit(mask, box, host[box] * (1 - alpha) + content * alpha)


def _fit(image, height, width):
  """Resize (area when shrinking, bicubic when enlarging) to height x width."""
  shrink = height * width < image.shape[0] * image.shape[1]
  return cv2.resize(
    image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
  )


def _donor_life(rng, rgb, knobs):
  """The donor photo's own history: its camera's JPEG at another quality (float32)."""
  if rng.random() < knobs.donor_jpeg_probability:
    rgb = jpeg_roundtrip(rgb, int(rng.integers(*knobs.donor_quality, endpoint=True)))
  return rgb.astype(np.float32)


def splice(rng, host, donor, knobs):
  """A region of another photo, or a whole cut-out, pasted into `host`."""
  height, width = host.shape[:2]
  if donor.is_cutout:
    region, box, content = _place_cutout(rng, host, donor, knobs)
    if box is None:  # scaled to nothing opaque: no edit
      return Edit(region, (slice(0, 0), slice(0, 0)), np.zeros((0, 0, 3), np.float32))
  else:
    _, region = regions.random_region(rng, height, width, *knobs.region_area)
    box = regions.box_around(region, margin(knobs))
    scale = _uniform(rng, knobs.donor_scale) * max(height, width) / max(donor.rgb.shape[:2])
    donor_height, donor_width = donor.rgb.shape[:2]
    big = (max(height, int(donor_height * scale)), max(width, int(donor_width * scale)))
    top = int(rng.integers(0, big[0] - height + 1))
    left = int(rng.integers(0, big[1] - width + 1))
    rows, cols = box
    window = (
      slice(top + rows.start, top + rows.stop),
      slice(left + cols.start, left + cols.stop),
    )
    content = _donor_window(rng, donor.rgb, big, window, knobs)
  if rng.random() < knobs.colour_match_probability:
    host_box = host[box].astype(np.float32)
    content = match_colour(content, host_box, region[box], _uniform(rng, (0.5, 1.0)))
  return composite(rng, host, degrade(rng, content, knobs), region, box, knobs)


# Donor pixels read beyond a window: the resize filter's reach, and the JPEG
# decoder's chroma upsampling, which reads across block edges.
DONOR_PAD = 16
JPEG_BLOCK = 16  # the 4:2:0 JPEG's unit of coding (MCU), in pixels


def _donor_window(rng, rgb, size, window, knobs):
  """float32 pixels of `window` (rows, cols) of the donor photo after its JPEG
  life and a resize to `size` (height, width): only the part of the photo the
  window comes from lives that life and is resized, cut at the photo's JPEG
  block grid so that its blocks are the ones the whole photo's would be."""
  (height, width), (rows, cols) = rgb.shape[:2], window
  per_row, per_col = height / size[0], width / size[1]  # donor pixels per output pixel

  def span(outputs, per_output, limit):
    start = max(0, int(outputs.start * per_output) - DONOR_PAD) // JPEG_BLOCK * JPEG_BLOCK
    stop = min(limit, int(np.ceil(outputs.stop * per_output)) + DONOR_PAD)
    return start, stop

  (y0, y1), (x0, x1) = span(rows, per_row, height), span(cols, per_col, width)
  piece = _donor_life(rng, rgb[y0:y1, x0:x1], knobs)
  piece = _fit(piece, max(1, round((y1 - y0) / per_row)), max(1, round((x1 - x0) / per_col)))
  top, left = rows.start - round(y0 / per_row), cols.start - round(x0 / per_col)
  out_height, out_width = rows.stop - rows.start, cols.stop - cols.start
  content = piece[max(0, top) : top + out_height, max(0, left) : left + out_width]
  missing = (out_height - content.shape[0], out_width - content.shape[1])
  if any(missing):  # a pixel lost to rounding at the window's edge
    content = np.pad(content, ((0, missing[0]), (0, missing[1]), (0, 0)), mode="edge")
  return content


def _place_cutout(rng, host, donor, knobs):
  """(region, box, content of the box): the donor's opaque object scaled to a
  region area of the configured range and placed at random where it fits."""
  height, width = host.shape[:2]
  top, bottom, left, right = regions.bounding_box(donor.alpha >= 128)
  rgb = _donor_life(rng, donor.rgb[top:bottom, left:right], knobs)
  alpha = donor.alpha[top:bottom, left:right]
  opaque = float((alpha >= 128).mean())
  scale = regions.scale_to_area(
    rng, knobs.region_area, opaque * alpha.size, alpha.shape, (height, width), 0.95
  )
  size = (max(2, int(alpha.shape[0] * scale)), max(2, int(alpha.shape[1] * scale)))
  rgb = _fit(rgb, *size)
  alpha = _fit(alpha.astype(np.float32), *size)
  y = int(rng.integers(0, height - size[0] + 1))
  x = int(rng.integers(0, width - size[1] + 1))
  region = np.zeros((height, width), np.uint8)
  region[y : y + size[0], x : x + size[1]] = alpha >= 128
  if not region.any():
    return region, None, None
  box = regions.box_around(region, margin(knobs))
  content = host[box].astype(np.float32)
  rows, cols = box
  # The pasted rectangle's part inside the box, in the box's coordinates.
  y0, x0 = max(y, rows.start), max(x, cols.start)
  y1, x1 = min(y + size[0], rows.stop), min(x + size[1], cols.stop)
  content[y0 - rows.start : y1 - rows.start, x0 - cols.start : x1 - cols.start] = rgb[
    y0 - y : y1 - y, x0 - x : x1 - x
  ]
  return region, box, content


def copy_move(rng, host, knobs):
  """A region of `host` moved elsewhere in it, scaled, rotated and sometimes mirrored;
  the mask is the region where it lands."""
  height, width = host.shape[:2]
  for _ in range(10):
    _, source = regions.random_region(rng, height, width, *knobs.region_area)
    top, bottom, left, right = regions.bounding_box(source)
    scale = _uniform(rng, knobs.copy_move_scale)
    angle = _uniform(rng, (-knobs.copy_move_rotation, knobs.copy_move_rotation))
    center = ((left + right) / 2, (top + bottom) / 2)
    matrix = cv2.getRotationMatrix2D(center, angle, scale)
    if rng.random() < knobs.copy_move_flip_probability:  # mirror about the region's centre
      matrix = matrix @ np.array([[-1, 0, 2 * center[0]], [0, 1, 0], [0, 0, 1]], np.float64)
    half = max(bottom - top, right - left) * scale / 2
    if 2 * half + 2 >= min(height, width):
      continue
    target = (rng.uniform(half, width - half), rng.uniform(half, height - half))
    if np.hypot(target[0] - center[0], target[1] - center[1]) < half:
      continue  # keep the copy mostly clear of its source
    matrix[:, 2] += np.array(target) - np.array(center)
    region = cv2.warpAffine(source, matrix, (width, height), flags=cv2.INTER_NEAREST)
    if region.sum() >= 16:
      box = regions.box_around(region, margin(knobs))
      content = warp_box(host, matrix, box).astype(np.float32)
      return composite(rng, host, degrade(rng, content, knobs), region, box, knobs)
  return splice_free_fallback(rng, host, knobs)


def warp_box(image, matrix, box):
  """The pixels of `box` of cv2.warpAffine(image, matrix) (reflected borders)."""
  rows, cols = box
  shifted = matrix.copy()
  shifted[:, 2] -= (cols.start, rows.start)  # the matrix maps the image's pixels to the output's
  return cv2.warpAffine(
    image,
    shifted,
    (cols.stop - cols.start, rows.stop - rows.start),
    flags=cv2.INTER_LINEAR,
    borderMode=cv2.BORDER_REFLECT,
  )


REMOVAL_METHODS = ("telea", "navier_stokes", "smooth", "clone")
# The smooth fill's Gaussian at each pyramid level.
SMOOTH_FILL_SIGMA = 2


def smooth_fill(image, region, levels: int = 1):
  """Fill a region by normalized Gaussian convolution of its surroundings (a
  smooth, texture-free fill) in the region's box. With one level, pixels farther
  inside than its kernel reaches are filled with black (the recipe's fill before
  `smooth_fill_levels`); with more, what a level cannot reach comes from the next
  coarser one (push-pull)."""
  box = regions.box_around(region, blur_radius(SMOOTH_FILL_SIGMA) + 1)
  known = 1.0 - region[box].astype(np.float32)
  patch = image[box].astype(np.float32)
  return box, _normalized_fill(patch * known[..., None], known, levels)


def _normalized_fill(weighted, known, levels):
  """float32 [h, w, 3]: the normalized convolution of `weighted` (pixels times
  `known`, [h, w] weights); where its weights fall short and levels remain, mixed
  with the fill of the half-size pyramid level."""
  weights = cv2.GaussianBlur(known, (0, 0), SMOOTH_FILL_SIGMA)
  blurred = cv2.GaussianBlur(weighted, (0, 0), SMOOTH_FILL_SIGMA)
  estimate = blurred / np.maximum(weights, 1e-6)[..., None]
  if levels <= 1 or min(known.shape) < 4:
    return estimate
  coarse = _normalized_fill(cv2.pyrDown(weighted), cv2.pyrDown(known), levels - 1)
  coarse = cv2.resize(coarse, known.shape[::-1], interpolation=cv2.INTER_LINEAR)
  confidence = np.minimum(2 * weights, 1.0)[..., None]
  return confidence * estimate + (1 - confidence) * coarse


def clone_fill(rng, image, region, levels: int = 1):
  """Fill a region with a nearby patch of the same image (a clone stamp); the
  smooth fill of `levels` where no patch fits."""
  top, bottom, left, right = regions.bounding_box(region)
  height, width = image.shape[:2]
  span_y, span_x = bottom - top, right - left
  for _ in range(10):
    dy = int(rng.integers(-2 * span_y, 2 * span_y + 1))
    dx = int(rng.integers(-2 * span_x, 2 * span_x + 1))
    if (
      (abs(dy) >= span_y or abs(dx) >= span_x)
      and 0 <= top + dy
      and bottom + dy <= height
      and 0 <= left + dx
      and right + dx <= width
    ):
      box = (slice(top, bottom), slice(left, right))
      return box, image[top + dy : bottom + dy, left + dx : right + dx]
  return smooth_fill(image, region, levels)


def inpaint(image, region, radius: int, flag):
  """OpenCV's inpainting of the region's box, widened by what the method reads."""
  box = regions.box_around(region, radius + 2)
  return box, cv2.inpaint(image[box], region[box], radius, flag)


def removal_region(rng, host, knobs, silhouette_of=None):
  """uint8 [H, W]: what a removal takes away: the silhouette of the cut-out
  `silhouette_of` (regions.silhouette), or a region of regions.py of at most 12%
  of the image."""
  if silhouette_of is not None:
    return regions.silhouette(
      rng, host, silhouette_of.alpha, knobs.silhouette_area, knobs.silhouette_dilation
    )
  height, width = host.shape[:2]
  _, region = regions.random_region(
    rng, height, width, knobs.region_area[0], min(knobs.region_area[1], 0.12)
  )
  return region


def removal(rng, host, knobs, silhouette_of=None):
  """An object-shaped region (see removal_region) filled in from its surroundings:
  OpenCV's inpainting (Telea's or Navier-Stokes'), a smooth fill from the region's
  edge (see smooth_fill), or a nearby patch cloned over it, as weighted by
  `removal_method_weights`."""
  region = removal_region(rng, host, knobs, silhouette_of)
  weights = np.asarray(knobs.removal_method_weights, np.float64)
  method = REMOVAL_METHODS[int(rng.choice(len(REMOVAL_METHODS), p=weights / weights.sum()))]
  if method in ("telea", "navier_stokes"):
    radius = int(rng.integers(*knobs.inpaint_radius, endpoint=True))
    flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
    box, filled = inpaint(host, region, radius, flag)
  elif method == "smooth":
    box, filled = smooth_fill(host, region, knobs.smooth_fill_levels)
  else:
    box, filled = clone_fill(rng, host, region, knobs.smooth_fill_levels)
  filled = np.asarray(filled, np.float32)
  if rng.random() < knobs.content_noise_probability:  # grain re-added, as healing tools do
    sigma = np.float32(_uniform(rng, (1.0, 4.0)))
    filled = filled + rng.standard_normal(filled.shape, np.float32) * sigma
  return Edit(
    region, box, np.where(region[box][..., None] > 0, filled, host[box]).astype(np.float32)
  )


def splice_free_fallback(rng, host, knobs):
  """Removal, for the rare photo too small for a copy-move that fits."""
  return removal(rng, host, knobs)

"""The three edits, each returning the edited image and the exact mask of the
pixels it changed: splicing from another photo (or a cut-out), copy-move within
the photo (scaled, rotated, maybe mirrored), and removal by inpainting.

Images are float32 [H, W, 3] in [0, 255] at the photo's own ("camera") scale;
masks are uint8 [H, W] in {0, 1}. `knobs` is a SynthesisConfig (see recipe.py).
"""

import cv2
import numpy as np

from ncl_jax.synthesis import regions


def _uniform(rng, bounds):
  low, high = bounds
  return float(rng.uniform(low, high))


def jpeg_roundtrip(image, quality: int) -> np.ndarray:
  """float [H, W, 3] -> float after one JPEG save and decode at `quality`."""
  ok, data = cv2.imencode(
    ".jpg",
    np.clip(np.round(image), 0, 255).astype(np.uint8)[..., ::-1],
    [cv2.IMWRITE_JPEG_QUALITY, int(quality)],
  )
  assert ok
  return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32)


def match_colour(content, host, mask, strength):
  """Move each channel of `content` inside `mask` toward the host's mean and
  spread there (strength 1: equal statistics)."""
  region = mask.astype(bool)
  if region.sum() < 16:
    return content
  src, dst = content[region], host[region]
  matched = (content - src.mean(0)) / (src.std(0) + 1e-3) * (dst.std(0) + 1e-3) + dst.mean(0)
  return (1 - strength) * content + strength * matched


def degrade(rng, content, knobs):
  """Optional blur and sensor-like noise on inserted content."""
  if rng.random() < knobs.content_blur_probability:
    content = cv2.GaussianBlur(content, (0, 0), _uniform(rng, (0.4, 1.5)))
  if rng.random() < knobs.content_noise_probability:
    content = content + rng.normal(0, _uniform(rng, (1.0, 6.0)), content.shape).astype(np.float32)
  return content


def composite(rng, host, content, mask, knobs):
  """Blend `content` into `host` through `mask`, with a feathered edge sometimes.
  Returns (image, mask of the pixels taken at least half from `content`)."""
  alpha = mask.astype(np.float32)
  if rng.random() < knobs.feather_probability:
    alpha = cv2.GaussianBlur(alpha, (0, 0), _uniform(rng, knobs.feather_sigma))
    alpha = np.where(mask > 0, np.maximum(alpha, 0.5), np.minimum(alpha, 0.49))
  image = host * (1 - alpha[..., None]) + content * alpha[..., None]
  return image, (alpha >= 0.5).astype(np.uint8)


def _fit(image, height, width):
  """Resize (area when shrinking, bicubic when enlarging) to height x width."""
  shrink = height * width < image.shape[0] * image.shape[1]
  return cv2.resize(
    image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
  )


def _donor_life(rng, rgb, knobs):
  """The donor photo's own history: its camera's JPEG at another quality."""
  rgb = rgb.astype(np.float32)
  if rng.random() < knobs.donor_jpeg_probability:
    rgb = jpeg_roundtrip(rgb, int(rng.integers(*knobs.donor_quality, endpoint=True)))
  return rgb


def splice(rng, host, donor, knobs):
  """A region of another photo, or a whole cut-out, pasted into `host`."""
  height, width = host.shape[:2]
  if donor.is_cutout:
    content, region = _place_cutout(rng, host, donor, knobs)
  else:
    _, region = regions.random_region(rng, height, width, *knobs.region_area)
    scale = _uniform(rng, knobs.donor_scale) * max(height, width) / max(donor.rgb.shape[:2])
    donor_rgb = _donor_life(rng, donor.rgb, knobs)
    big = _fit(
      donor_rgb,
      max(height, int(donor_rgb.shape[0] * scale)),
      max(width, int(donor_rgb.shape[1] * scale)),
    )
    top = int(rng.integers(0, big.shape[0] - height + 1))
    left = int(rng.integers(0, big.shape[1] - width + 1))
    content = big[top : top + height, left : left + width]
  if rng.random() < knobs.colour_match_probability:
    content = match_colour(content, host, region, _uniform(rng, (0.5, 1.0)))
  return composite(rng, host, degrade(rng, content, knobs), region, knobs)


def _place_cutout(rng, host, donor, knobs):
  """(content, region): the donor's opaque object scaled to a region area of the
  configured range and placed at random where it fits."""
  height, width = host.shape[:2]
  ys, xs = np.nonzero(donor.alpha >= 128)
  top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
  rgb = _donor_life(rng, donor.rgb[top:bottom, left:right], knobs)
  alpha = donor.alpha[top:bottom, left:right]
  opaque = float((alpha >= 128).mean())
  area = float(np.exp(rng.uniform(*np.log(knobs.region_area))))
  scale = np.sqrt(area * height * width / max(opaque * alpha.size, 1))
  scale = min(scale, 0.95 * height / alpha.shape[0], 0.95 * width / alpha.shape[1])
  size = (max(2, int(alpha.shape[0] * scale)), max(2, int(alpha.shape[1] * scale)))
  rgb = _fit(rgb, *size)
  alpha = _fit(alpha.astype(np.float32), *size)
  y = int(rng.integers(0, height - size[0] + 1))
  x = int(rng.integers(0, width - size[1] + 1))
  content = host.copy()
  content[y : y + size[0], x : x + size[1]] = rgb
  region = np.zeros((height, width), np.uint8)
  region[y : y + size[0], x : x + size[1]] = alpha >= 128
  return content, region


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
    content = cv2.warpAffine(
      host, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    region = cv2.warpAffine(source, matrix, (width, height), flags=cv2.INTER_NEAREST)
    if region.sum() >= 16:
      return composite(rng, host, degrade(rng, content, knobs), region, knobs)
  return splice_free_fallback(rng, host, knobs)


REMOVAL_METHODS = ("telea", "navier_stokes", "smooth", "clone")


def smooth_fill(image, region):
  """Fill a region by normalized Gaussian convolution of its surroundings at
  decreasing scales: a smooth, texture-free fill, like a biharmonic one."""
  known = 1.0 - region.astype(np.float32)
  result = image * known[..., None]
  for sigma in (32, 16, 8, 4, 2):
    weights = cv2.GaussianBlur(known, (0, 0), sigma)
    blurred = cv2.GaussianBlur(result * known[..., None], (0, 0), sigma)
    fill = blurred / np.maximum(weights, 1e-6)[..., None]
    result = np.where(known[..., None] > 0, image, fill)
  return result


def clone_fill(rng, image, region):
  """Fill a region with a nearby patch of the same image (a clone stamp)."""
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
      return np.roll(image, (-dy, -dx), axis=(0, 1))
  return smooth_fill(image, region)


def removal(rng, host, knobs):
  """An object-shaped region filled in from its surroundings: OpenCV's inpainting
  (Telea's or Navier-Stokes'), a smooth diffusion-like fill, or a nearby patch
  cloned over it, as weighted by `removal_method_weights`."""
  height, width = host.shape[:2]
  _, region = regions.random_region(
    rng, height, width, knobs.region_area[0], min(knobs.region_area[1], 0.12)
  )
  weights = np.asarray(knobs.removal_method_weights, np.float64)
  method = REMOVAL_METHODS[int(rng.choice(len(REMOVAL_METHODS), p=weights / weights.sum()))]
  if method in ("telea", "navier_stokes"):
    radius = int(rng.integers(*knobs.inpaint_radius, endpoint=True))
    flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
    filled = cv2.inpaint(np.clip(np.round(host), 0, 255).astype(np.uint8), region, radius, flag)
  elif method == "smooth":
    filled = smooth_fill(host, region)
  else:
    filled = clone_fill(rng, host, region)
  filled = np.asarray(filled, np.float32)
  if rng.random() < knobs.content_noise_probability:  # grain re-added, as healing tools do
    filled = filled + rng.normal(0, _uniform(rng, (1.0, 4.0)), filled.shape).astype(np.float32)
  image = np.where(region[..., None] > 0, filled, host)
  return image, region


def splice_free_fallback(rng, host, knobs):
  """Removal, for the rare photo too small for a copy-move that fits."""
  return removal(rng, host, knobs)

"""Object-shaped regions for forgeries: smooth random blobs, polygons, unions of
ellipses (a body with limbs), and the silhouette of a cut-out placed over texture.

Every function takes a NumPy Generator and returns uint8 [height, width] in {0, 1}.
"""

import cv2
import numpy as np

SHAPES = ("blob", "polygon", "object")


def _radius(height, width, area):
  return np.sqrt(area * height * width / np.pi)


def _center(rng, height, width, radius):
  """A centre that keeps most of a region of this radius inside the image."""
  margin_y, margin_x = min(radius, height / 2), min(radius, width / 2)
  return rng.uniform(margin_x, width - margin_x), rng.uniform(margin_y, height - margin_y)


def polygon(rng, height, width, area):
  """A star-shaped polygon of 5-12 vertices with about `area` of the image."""
  vertices = int(rng.integers(5, 13))
  angles = np.sort(rng.uniform(0, 2 * np.pi, vertices))
  radius = _radius(height, width, area)
  radii = radius * rng.uniform(0.55, 1.45, vertices)
  cx, cy = _center(rng, height, width, radius)
  points = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], -1)
  mask = np.zeros((height, width), np.uint8)
  cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
  return mask


# A blob's field is smooth: it is drawn at this fraction of the image's size and
# interpolated up, which moves its outline by less than a pixel.
BLOB_FIELD_SCALE = 4


def blob(rng, height, width, area):
  """A smooth random blob: low-frequency noise biased toward one centre,
  thresholded so that about `area` of the image is inside."""
  coarse = rng.normal(size=(6, 6)).astype(np.float32)
  small = (max(2, height // BLOB_FIELD_SCALE), max(2, width // BLOB_FIELD_SCALE))
  field = cv2.resize(coarse, small[::-1], interpolation=cv2.INTER_CUBIC)
  cx, cy = _center(rng, height, width, _radius(height, width, area))
  scale = max(height, width)
  # The radial bias at the small field's pixel centres, in the image's coordinates.
  rows = ((np.arange(small[0]) + 0.5) * height / small[0] - 0.5 - cy) / scale
  cols = ((np.arange(small[1]) + 0.5) * width / small[1] - 0.5 - cx) / scale
  field = (field - 18.0 * (rows[:, None] ** 2 + cols[None, :] ** 2)).astype(np.float32)
  threshold = np.quantile(field, 1.0 - area)
  field = cv2.resize(field, (width, height), interpolation=cv2.INTER_LINEAR)
  return (field > threshold).astype(np.uint8)


def object_like(rng, height, width, area):
  """A union of 2-4 overlapping rotated ellipses (a body with limbs)."""
  mask = np.zeros((height, width), np.uint8)
  radius = _radius(height, width, area)
  cx, cy = _center(rng, height, width, radius)
  for part in range(int(rng.integers(2, 5))):
    scale = 1.0 if part == 0 else rng.uniform(0.3, 0.7)
    px, py = (
      (cx, cy)
      if part == 0
      else (cx + rng.normal(0, 0.7 * radius), cy + rng.normal(0, 0.7 * radius))
    )
    axes = (
      max(1, int(radius * scale * rng.uniform(0.6, 1.4))),
      max(1, int(radius * scale * rng.uniform(0.4, 1.0))),
    )
    cv2.ellipse(mask, (int(px), int(py)), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
  return mask


_MAKERS = {"blob": blob, "polygon": polygon, "object": object_like}


def random_region(rng, height, width, min_area, max_area):
  """(shape name, mask) with a log-uniform area fraction in [min_area, max_area];
  a draw that leaves too little or too much of the image is drawn again."""
  name, mask = "blob", None
  for _ in range(10):
    name = str(rng.choice(SHAPES))
    area = float(np.exp(rng.uniform(np.log(min_area), np.log(max_area))))
    mask = _MAKERS[name](rng, height, width, area)
    covered = mask.mean()
    if 0.5 * min_area <= covered <= min(0.7, 2 * max_area):
      return name, mask
  return name, mask


def alpha_region(alpha: np.ndarray) -> np.ndarray:
  """The opaque part of a cut-out's alpha matte, cropped to its bounding box:
  uint8 [h, w] in {0, 1}."""
  mask = (alpha >= 128).astype(np.uint8)
  ys, xs = np.nonzero(mask)
  if len(ys) == 0:
    return mask
  return mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


# A silhouette goes to the most textured of this many random places.
SILHOUETTE_PLACES = 4
# The texture map that ranks the places is computed at this fraction of the size.
TEXTURE_SCALE = 4


def texture_integral(rgb: np.ndarray) -> np.ndarray:
  """float64 [h/TEXTURE_SCALE + 1, w/TEXTURE_SCALE + 1]: the integral image of the
  grey level's gradient magnitude at reduced size, so a box's texture is 4 reads."""
  grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
  small = cv2.resize(
    grey,
    (max(1, grey.shape[1] // TEXTURE_SCALE), max(1, grey.shape[0] // TEXTURE_SCALE)),
    interpolation=cv2.INTER_AREA,
  ).astype(np.float32)
  magnitude = np.abs(cv2.Sobel(small, -1, 1, 0)) + np.abs(cv2.Sobel(small, -1, 0, 1))
  return cv2.integral(magnitude, sdepth=cv2.CV_64F)


def box_texture(integral, top, left, height, width) -> float:
  """The mean gradient magnitude in an image box, read from texture_integral."""
  t, l = top // TEXTURE_SCALE, left // TEXTURE_SCALE
  b = min(integral.shape[0] - 1, max(t + 1, (top + height) // TEXTURE_SCALE))
  r = min(integral.shape[1] - 1, max(l + 1, (left + width) // TEXTURE_SCALE))
  t, l = min(t, b - 1), min(l, r - 1)
  total = integral[b, r] - integral[t, r] - integral[b, l] + integral[t, l]
  return float(total / ((b - t) * (r - l)))


def scale_to_area(rng, area_range, opaque_pixels, shape, host_shape, fit: float) -> float:
  """The factor that scales an object of `opaque_pixels` in a box of `shape` (h, w)
  to a log-uniform fraction of `area_range` of a host of `host_shape` (H, W), at
  most `fit` of the host on either side."""
  (height, width), area = host_shape, float(np.exp(rng.uniform(*np.log(area_range))))
  scale = np.sqrt(area * height * width / max(opaque_pixels, 1))
  return min(scale, fit * height / shape[0], fit * width / shape[1])


def silhouette(rng, host_rgb, alpha, area_range, dilation_range):
  """The opaque silhouette of a cut-out's alpha matte [h, w], scaled to a
  log-uniform area fraction of `area_range` of the host, sometimes mirrored,
  dilated by a drawn number of pixels, and placed where the host
  (uint8 [H, W, 3]) is most textured among SILHOUETTE_PLACES random places."""
  height, width = host_rgb.shape[:2]
  shape = alpha_region(alpha)
  scale = scale_to_area(rng, area_range, int(shape.sum()), shape.shape, (height, width), 0.9)
  size = (max(2, int(shape.shape[1] * scale)), max(2, int(shape.shape[0] * scale)))
  shape = (cv2.resize(shape * 255, size, interpolation=cv2.INTER_LINEAR) >= 128).astype(np.uint8)
  if rng.random() < 0.5:
    shape = cv2.flip(shape, 1)
  dilation = int(rng.integers(*dilation_range, endpoint=True))
  if dilation > 0:
    shape = cv2.dilate(
      np.pad(shape, dilation),
      cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilation + 1,) * 2),
    )
  shape = shape[:height, :width]
  places = [
    (
      int(rng.integers(0, height - shape.shape[0] + 1)),
      int(rng.integers(0, width - shape.shape[1] + 1)),
    )
    for _ in range(SILHOUETTE_PLACES)
  ]
  integral = texture_integral(host_rgb)
  top, left = max(places, key=lambda p: box_texture(integral, *p, *shape.shape))
  mask = np.zeros((height, width), np.uint8)
  mask[top : top + shape.shape[0], left : left + shape.shape[1]] = shape
  return mask


def bounding_box(mask: np.ndarray):
  """(top, bottom, left, right), exclusive ends, of the nonzero part of a mask
  (all 0 for an empty one)."""
  left, top, width, height = cv2.boundingRect(np.asarray(mask, np.uint8))
  return top, top + height, left, left + width


def box_around(mask: np.ndarray, margin: int):
  """(rows, cols): slices of the mask's bounding box widened by `margin` pixels
  on every side, within the mask."""
  top, bottom, left, right = bounding_box(mask)
  height, width = mask.shape[:2]
  return (
    slice(max(0, top - margin), min(height, bottom + margin)),
    slice(max(0, left - margin), min(width, right + margin)),
  )

"""Synthetic manipulated images from the photographs bundled with scikit-image.

No network: the photos ship inside the installed scikit-image package. Every
example is a pure function of (seed, split, index), so builds are deterministic
and independent of generation order.

Manipulations (each of the region shapes polygon / blob / object-like):
- splicing: the region comes from a crop of another photo;
- copy-move: the region comes from elsewhere in the same image;
- removal: the region is inpainted from its surroundings.
The inserted content is post-processed (rescaling, JPEG recompression at its own
quality, blur, noise, colour matching to its new surroundings) and the whole image
is re-saved (JPEG at another quality, or PNG). `difficulty` in [0, 1] scales how
faint these traces are; at the default 0.5 colour is always matched, so the
region is not separable by colour.
"""
import dataclasses
import functools
import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from scipy import ndimage

PHOTO_NAMES = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field",
               "immunohistochemistry", "retina", "colorwheel")
MANIPULATION_TYPES = ("authentic", "splicing", "copy_move", "removal")
SPLIT_IDS = {"train": 0, "validation": 1, "test": 2}


@dataclasses.dataclass(frozen=True)
class SyntheticExample:
  image_bytes: bytes     # the final encoded file (JPEG or PNG), as a user would have it
  image_format: str      # "jpeg" or "png"
  mask: np.ndarray       # uint8 [H, W], 1 = manipulated
  manipulation_type: str
  region_shape: str


@functools.lru_cache(maxsize=None)
def load_photos():
  """The bundled colour photos as uint8 [H, W, 3] arrays."""
  import skimage.data  # pylint: disable=g-import-not-at-top
  return tuple(np.asarray(getattr(skimage.data, name)()[..., :3], np.uint8)
               for name in PHOTO_NAMES)


def random_crop(rng, photo, size):
  """A square crop of random scale and position, resized to size x size, maybe flipped."""
  height, width = photo.shape[:2]
  side = int(min(height, width) * rng.uniform(0.35, 1.0))
  top = rng.integers(0, height - side + 1)
  left = rng.integers(0, width - side + 1)
  crop = Image.fromarray(photo[top:top + side, left:left + side])
  crop = crop.resize((size, size), Image.BICUBIC)
  array = np.asarray(crop, np.float32)
  return array[:, ::-1] if rng.random() < 0.5 else array


def _polygon_mask(rng, size, area):
  """A star-shaped random polygon with the given approximate area fraction."""
  vertices = rng.integers(5, 13)
  angles = np.sort(rng.uniform(0, 2 * np.pi, vertices))
  radius = np.sqrt(area * size * size / np.pi)
  radii = radius * rng.uniform(0.55, 1.45, vertices)
  center = rng.uniform(radius, size - radius, 2)
  points = [(center[0] + r * np.cos(a), center[1] + r * np.sin(a)) for r, a in zip(radii, angles)]
  canvas = Image.new("L", (size, size), 0)
  ImageDraw.Draw(canvas).polygon(points, fill=1)
  return np.asarray(canvas, np.uint8)


def _blob_mask(rng, size, area):
  """Smooth random blobs: upsampled low-resolution noise, thresholded at a quantile."""
  coarse = rng.normal(size=(6, 6)).astype(np.float32)
  field = ndimage.zoom(coarse, size / 6, order=3)[:size, :size]
  # Bias toward one area of the image so that blobs cluster instead of speckling.
  yy, xx = np.mgrid[0:size, 0:size] / size
  cy, cx = rng.uniform(0.25, 0.75, 2)
  field = field - 3.0 * ((yy - cy) ** 2 + (xx - cx) ** 2)
  return (field > np.quantile(field, 1.0 - area)).astype(np.uint8)


def _object_mask(rng, size, area):
  """Object-like: a union of a few overlapping rotated ellipses (body, limbs)."""
  canvas = Image.new("L", (size, size), 0)
  draw = ImageDraw.Draw(canvas)
  radius = np.sqrt(area * size * size / np.pi)
  center = rng.uniform(radius, size - radius, 2)
  theta = np.linspace(0, 2 * np.pi, 32, endpoint=False)
  for part in range(rng.integers(2, 5)):
    scale = 1.0 if part == 0 else rng.uniform(0.3, 0.7)
    part_center = center if part == 0 else center + rng.normal(0, 0.7 * radius, 2)
    a, b = radius * scale * rng.uniform(0.6, 1.4), radius * scale * rng.uniform(0.4, 1.0)
    angle = rng.uniform(0, np.pi)
    x = a * np.cos(theta) * np.cos(angle) - b * np.sin(theta) * np.sin(angle)
    y = a * np.cos(theta) * np.sin(angle) + b * np.sin(theta) * np.cos(angle)
    draw.polygon(list(zip(part_center[0] + x, part_center[1] + y)), fill=1)
  return np.asarray(canvas, np.uint8)


REGION_SHAPES = {"polygon": _polygon_mask, "blob": _blob_mask, "object": _object_mask}


def random_region(rng, size):
  """(shape name, uint8 [size, size] mask) covering roughly 4% to 30% of the image."""
  for _ in range(10):
    name = rng.choice(sorted(REGION_SHAPES))
    mask = REGION_SHAPES[name](rng, size, rng.uniform(0.04, 0.30))
    if 0.01 * size * size < mask.sum() < 0.6 * size * size:
      return str(name), mask
  return str(name), mask  # every draw was degenerate: keep the last one


def jpeg_roundtrip(image, quality):
  """float [H, W, 3] -> float [H, W, 3] after one JPEG save at `quality`."""
  buffer = io.BytesIO()
  Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=int(quality))
  return np.asarray(Image.open(buffer), np.float32)


def match_colour(content, host, mask):
  """Shift and scale each channel of `content` inside `mask` to the host's statistics there."""
  region = mask.astype(bool)
  src, dst = content[region], host[region]
  return (content - src.mean(0)) / (src.std(0) + 1e-3) * (dst.std(0) + 1e-3) + dst.mean(0)


def post_process(rng, content, host, mask, difficulty):
  """Randomized traces on the inserted content; fainter as difficulty grows."""
  strength = 1.0 - 0.8 * difficulty
  size = content.shape[0]
  if rng.random() < 0.5:  # rescaling: resampled down and up again
    factor = rng.uniform(0.4, 0.4 + 0.5 * (1 - strength) + 0.1)
    small = max(8, int(size * factor))
    image = Image.fromarray(np.clip(content, 0, 255).astype(np.uint8))
    content = np.asarray(image.resize((small, small), Image.BILINEAR).resize(
        (size, size), Image.BILINEAR), np.float32)
  if rng.random() < 0.6:
    content = jpeg_roundtrip(content, rng.integers(40, int(95 - 40 * strength) + 1))
  if rng.random() < 0.5:
    image = Image.fromarray(np.clip(content, 0, 255).astype(np.uint8))
    content = np.asarray(image.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 0.4 + 1.6 * strength))),
                         np.float32)
  if rng.random() < 0.5:
    content = content + rng.normal(0, rng.uniform(1.0, 1.0 + 8.0 * strength), content.shape)
  if rng.random() < min(1.0, 2.0 * difficulty):
    content = match_colour(content, host, mask)
  return content


def inpaint(image, mask):
  """Fill the masked region by normalized Gaussian convolution at decreasing scales."""
  known = 1.0 - mask.astype(np.float32)
  result = image * known[..., None]
  for sigma in (16, 8, 4, 2):
    weights = ndimage.gaussian_filter(known, sigma)
    blurred = ndimage.gaussian_filter(result * known[..., None], (sigma, sigma, 0))
    fill = blurred / np.maximum(weights, 1e-6)[..., None]
    result = np.where(known[..., None] > 0, image, fill)
  return result


def composite(host, content, mask, feather):
  """Alpha-blend content into host through the mask, with an optionally soft edge."""
  alpha = mask.astype(np.float32)
  if feather > 0:
    alpha = ndimage.gaussian_filter(alpha, feather)
    alpha = np.where(mask > 0, np.maximum(alpha, 0.5), np.minimum(alpha, 0.49))
  return host * (1 - alpha[..., None]) + content * alpha[..., None]


def translate(image, mask, rng):
  """Copy-move source: the image shifted so the region's content comes from elsewhere."""
  size = image.shape[0]
  ys, xs = np.nonzero(mask)
  for _ in range(20):
    dy, dx = rng.integers(-size // 2, size // 2 + 1, 2)
    if ys.min() + dy >= 0 and ys.max() + dy < size and xs.min() + dx >= 0 and xs.max() + dx < size \
        and max(abs(dy), abs(dx)) > 0.1 * size:
      break
  return np.roll(image, (-dy, -dx), axis=(0, 1))


def encode(image, rng):
  """Global re-save; returns (bytes, format)."""
  buffer = io.BytesIO()
  pil = Image.fromarray(np.clip(np.round(image), 0, 255).astype(np.uint8))
  if rng.random() < 0.75:
    pil.save(buffer, "JPEG", quality=int(rng.integers(75, 99)))
    return buffer.getvalue(), "jpeg"
  pil.save(buffer, "PNG")
  return buffer.getvalue(), "png"


def generate_example(seed, split, index, image_size=128, difficulty=0.5,
                     authentic_fraction=0.2):
  """One example, a pure function of its arguments."""
  rng = np.random.default_rng([seed, SPLIT_IDS[split], index])
  photos = load_photos()
  host_index = rng.integers(len(photos))
  host = random_crop(rng, photos[host_index], image_size)
  if rng.random() < authentic_fraction:
    image_bytes, image_format = encode(host, rng)
    return SyntheticExample(image_bytes, image_format, np.zeros((image_size,) * 2, np.uint8),
                            "authentic", "none")
  kind = rng.choice(MANIPULATION_TYPES[1:], p=(0.4, 0.3, 0.3))
  region_shape, mask = random_region(rng, image_size)
  if kind == "splicing":
    donor_index = (host_index + rng.integers(1, len(photos))) % len(photos)
    content = random_crop(rng, photos[donor_index], image_size)
  elif kind == "copy_move":
    content = translate(host, mask, rng)
  else:
    content = inpaint(host, mask)
  content = post_process(rng, content, host, mask, difficulty)
  feather = rng.uniform(0, 1.5 * difficulty) if rng.random() < difficulty else 0.0
  image = composite(host, content, mask, feather)
  image_bytes, image_format = encode(image, rng)
  return SyntheticExample(image_bytes, image_format, mask, str(kind), region_shape)

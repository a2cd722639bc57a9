"""Collections of authentic photos that forgeries are synthesized from.

Three sources, one interface (`len(source)`, `source.name(i)`, `source.encoded(i)`):

- `FolderPhotos`: every image file under a folder, recursively (anything PIL
  opens); files that PIL cannot open are reported and skipped with a count;
- `TfdsPhotos`: the image feature of a TFDS dataset already built on disk in
  ArrayRecord format (e.g. `coco/2017`, `imagenet2012`), read without TensorFlow;
- `BundledPhotos`: the colour photos that ship with scikit-image (no files needed).

`PhotoCache` sits in front of any of them: it decodes a photo once, downscaled
(JPEG draft mode) to at most `max_side` pixels, keeps an alpha channel if the file
has one, and holds as many as fit in its memory budget, so a collection that fits
is decoded once per process, not again for every forgery.
"""

import bisect
import collections
import dataclasses
import io
import itertools
import logging
import os
import threading

import numpy as np
import tensorflow_datasets as tfds
from etils import epath
from PIL import Image, ImageOps

from ncl_jax import paths
from ncl_jax.input import imaging

# The colour photos of scikit-image's data module (the default source).
BUNDLED_PHOTO_NAMES = (
  "astronaut",
  "chelsea",
  "coffee",
  "rocket",
  "hubble_deep_field",
  "immunohistochemistry",
  "retina",
  "colorwheel",
)


class PhotoError(ValueError):
  """A photo that cannot be used (unreadable, or a source that cannot be read)."""


@dataclasses.dataclass(frozen=True)
class Photo:
  """A decoded photo: RGB and, where the file has transparency, its alpha."""

  rgb: np.ndarray  # uint8 [H, W, 3]
  alpha: np.ndarray | None  # uint8 [H, W] where the file has transparency, else None

  @property
  def is_cutout(self) -> bool:
    """An object cut out on a transparent background: a splice donor, never a host."""
    return self.alpha is not None and bool((self.alpha < 128).mean() > 0.05)


class FolderPhotos:
  """Every file under `root` (recursively) that PIL opens, sorted by path."""

  def __init__(self, root, log=logging.warning):
    self.root = paths.resolve(root)
    if not self.root.is_dir():
      raise PhotoError(f"photo folder {self.root} does not exist or is not a folder")
    self.paths: list[epath.Path] = []
    self.alpha: list[bool] = []
    self.skipped: list[str] = []
    for path in paths.files_under(self.root):
      try:
        with path.open("rb") as file, Image.open(file) as image:  # reads the header only
          self.alpha.append(has_alpha(image))
      except Exception as error:  # PIL raises many types on files it cannot read
        self.skipped.append(f"{path}: {type(error).__name__}: {error}")
        continue
      self.paths.append(path)
    if self.skipped:
      log(
        f"{len(self.skipped)} file(s) in {self.root} are not images PIL can read and are "
        f"skipped, e.g. {self.skipped[0]}"
      )
    if not self.paths:
      raise PhotoError(
        f"no image in {self.root} (looked recursively for anything PIL opens; "
        f"{len(self.skipped)} file(s) skipped)"
      )

  def __len__(self):
    return len(self.paths)

  def name(self, index: int) -> str:
    """The file's path below the folder."""
    return str(self.paths[index].relative_to(self.root))

  def encoded(self, index: int) -> bytes:
    """The file's bytes."""
    return self.paths[index].read_bytes()

  def may_have_alpha(self, index: int) -> bool:
    """Whether the file may carry transparency (a cut-out)."""
    return self.alpha[index]


class CombinedPhotos:
  """Several photo collections as one: the first keeps its photos' indices and
  names, each next one's photos follow, named below their folder's name."""

  def __init__(self, sources):
    self.sources = list(sources)
    self.starts = list(itertools.accumulate([len(source) for source in self.sources], initial=0))

  def __len__(self):
    return self.starts[-1]

  def _locate(self, index: int):
    if not 0 <= index < len(self):
      raise IndexError(f"photo {index} out of range for {len(self)} photos")
    which = bisect.bisect_right(self.starts, index) - 1
    return which, self.sources[which], index - self.starts[which]

  def name(self, index: int) -> str:
    """The first collection's names as they are; the others' below their folder."""
    which, source, local = self._locate(index)
    return source.name(local) if which == 0 else f"{source.root.name}/{source.name(local)}"

  def encoded(self, index: int) -> bytes:
    """The file's bytes."""
    _, source, local = self._locate(index)
    return source.encoded(local)

  def may_have_alpha(self, index: int) -> bool:
    """Whether the file may carry transparency (a cut-out)."""
    _, source, local = self._locate(index)
    return source.may_have_alpha(local)


class TfdsPhotos:
  """The `image_key` feature of a TFDS dataset built in ArrayRecord format."""

  def __init__(self, name: str, data_dir: str, split: str = "train", image_key: str = "image"):
    builder = tfds.builder(name, data_dir=os.fspath(paths.resolve(data_dir)))
    if not builder.is_prepared():
      raise PhotoError(
        f"TFDS dataset {name} is not built in {builder.data_dir}; build it "
        f"first (`tfds build {name} --file_format=array_record`)"
      )
    try:
      self.source = builder.as_data_source(split, decoders={image_key: tfds.decode.SkipDecoding()})
    except NotImplementedError as error:
      raise PhotoError(
        f"TFDS dataset {name} in {builder.data_dir} is stored as "
        f"{builder.info.file_format}, which only TensorFlow can read. Build it as "
        f"ArrayRecord instead (`tfds build {name} --file_format=array_record`), or convert "
        f"the existing build once where TensorFlow is installed (`tfds convert_format "
        f"--dataset_dir={builder.data_path} --out_file_format=array_record`)."
      ) from error
    self.dataset_name, self.image_key = name, image_key

  def __len__(self):
    return len(self.source)

  def name(self, index: int) -> str:
    """ "<dataset>[index]"."""
    return f"{self.dataset_name}[{index}]"

  def encoded(self, index: int) -> bytes:
    """The example's encoded image bytes."""
    return self.source[index][self.image_key]

  def may_have_alpha(self, index: int) -> bool:
    """False: a TFDS image feature is not read ahead to look."""
    del index
    return False  # not read ahead: the image feature of a large dataset


class BundledPhotos:
  """scikit-image's bundled colour photos, encoded as PNG."""

  def __init__(self, names=BUNDLED_PHOTO_NAMES):
    self.names = tuple(names)

  def __len__(self):
    return len(self.names)

  def name(self, index: int) -> str:
    """ "skimage:<name>"."""
    return f"skimage:{self.names[index]}"

  def encoded(self, index: int) -> bytes:
    """scikit-image's photo, encoded as PNG."""
    import skimage.data  # pylint: disable=g-import-not-at-top  # slow; only when used

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(getattr(skimage.data, self.names[index])())[..., :3]).save(
      buffer, "PNG"
    )
    return buffer.getvalue()

  def may_have_alpha(self, index: int) -> bool:
    """False: the bundled photos are opaque."""
    del index
    return False


def has_alpha(image: Image.Image) -> bool:
  """Whether an opened image has a transparency channel (from its header)."""
  return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)


def decode_photo(data: bytes, max_side: int, name: str = "") -> Photo:
  """Encoded photo -> Photo no larger than `max_side` on its longer side (EXIF
  orientation applied, 16-bit and other modes converted; alpha kept)."""
  try:
    with Image.open(io.BytesIO(data)) as image:
      width, height = image.size
      if width * height > imaging.MAX_IMAGE_PIXELS:
        raise PhotoError(
          f"{name}: {width}x{height} pixels is over the limit of {imaging.MAX_IMAGE_PIXELS}"
        )
      scale = min(1.0, max_side / max(width, height))
      if image.format == "JPEG" and scale < 1.0:
        image.draft("RGB", (int(width * scale), int(height * scale)))
      image = ImageOps.exif_transpose(image)
      alpha = None
      if has_alpha(image):
        image = image.convert("RGBA")
        alpha = np.asarray(image)[..., 3]
      rgb = imaging.to_rgb(image)
  except PhotoError:
    raise
  except Exception as error:  # PIL raises many types on malformed files
    raise PhotoError(f"{name}: cannot decode ({type(error).__name__}: {error})") from error
  height, width = rgb.shape[:2]
  if max(height, width) > max_side:
    size = (
      max(1, round(height * max_side / max(height, width))),
      max(1, round(width * max_side / max(height, width))),
    )
    rgb = imaging.resize_image(rgb, size)
    alpha = (
      None
      if alpha is None
      else imaging.resize_image(np.repeat(alpha[..., None], 3, -1), size)[..., 0]
    )
  return Photo(rgb, alpha)


class PhotoCache:
  """Decoded, downscaled photos of a source, the most recently used in memory up
  to `max_bytes` (thread-safe; each worker process has its own)."""

  def __init__(self, source, max_side: int, max_bytes: int = 2**30):
    self.source, self.max_side, self.max_bytes = source, max_side, max_bytes
    self._photos = collections.OrderedDict()
    self._lock = threading.Lock()
    self.bytes = 0
    self.decode_failures = set()

  def __len__(self):
    return len(self.source)

  def __getstate__(self):
    # Sent to grain's worker processes: each starts with an empty cache of its own.
    return {
      "source": self.source,
      "max_side": self.max_side,
      "max_bytes": self.max_bytes,
      "decode_failures": set(self.decode_failures),
    }

  def __setstate__(self, state):
    self.__init__(state["source"], state["max_side"], state["max_bytes"])
    self.decode_failures = state["decode_failures"]

  def get(self, index: int) -> Photo:
    """The photo, or PhotoError (remembered: a bad file is not decoded twice)."""
    with self._lock:
      if index in self._photos:
        self._photos.move_to_end(index)
        return self._photos[index]
      if index in self.decode_failures:
        raise PhotoError(f"{self.source.name(index)}: could not be decoded")
    try:
      photo = decode_photo(self.source.encoded(index), self.max_side, self.source.name(index))
    except PhotoError:
      with self._lock:
        self.decode_failures.add(index)
      raise
    with self._lock:
      if index not in self._photos:
        self._photos[index] = photo
        self.bytes += photo_bytes(photo)
      while self.bytes > self.max_bytes and len(self._photos) > 1:
        self.bytes -= photo_bytes(self._photos.popitem(last=False)[1])
    return photo


def photo_bytes(photo: Photo) -> int:
  """The memory a decoded photo holds."""
  return photo.rgb.nbytes + (0 if photo.alpha is None else photo.alpha.nbytes)

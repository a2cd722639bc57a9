"""grain input pipelines over the TFDS ArrayRecord builds.

Training: decode -> binarize mask -> resize (bilinear image, nearest mask) or
random crop -> random horizontal flip -> ImageNet normalization -> batch.
Evaluation: the same without randomness, the last batch padded with `valid = 0`
examples (never dropping or repeating an image), and each example's original
mask kept so metrics can be computed at the original size.
"""
import dataclasses
import io
import math

import grain
import jax
import numpy as np
from PIL import Image

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32) * 255
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32) * 255
MASK_THRESHOLD = 127
# Refuse images whose decoding alone could exhaust memory (decompression bombs).
Image.MAX_IMAGE_PIXELS = 100_000_000


class DecodeError(ValueError):
  """An example whose bytes are not a readable image or mask."""


def _text(value) -> str:
  return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def to_rgb(image: Image.Image) -> np.ndarray:
  """Any PIL mode (L, LA, P, RGBA, CMYK, I;16, F, ...) -> uint8 [H, W, 3]."""
  if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
    array = np.asarray(image, np.float32)
    peak = 65535.0 if array.max() > 255 else 255.0
    image = Image.fromarray((np.clip(array, 0, peak) / peak * 255).astype(np.uint8))
  return np.asarray(image.convert("RGB"), np.uint8)


def decode_image(data: bytes, file_name: str = "") -> np.ndarray:
  """Encoded bytes -> uint8 [H, W, 3]; DecodeError naming the file on failure."""
  try:
    with Image.open(io.BytesIO(data)) as image:
      image.load()
      return to_rgb(image)
  except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
    raise DecodeError(f"{file_name or 'image'}: cannot decode ({error})") from error


def binarize_mask(array: np.ndarray) -> np.ndarray:
  """uint8 [H, W] or [H, W, C] -> uint8 [H, W] in {0, 1}, manipulated where > 127."""
  if array.ndim == 3:
    array = array[..., :3].mean(axis=-1)
  return (array > MASK_THRESHOLD).astype(np.uint8)


def decode_mask(data: bytes, file_name: str = "") -> np.ndarray:
  try:
    with Image.open(io.BytesIO(data)) as image:
      return binarize_mask(np.asarray(image.convert("L")))
  except (OSError, ValueError, SyntaxError) as error:
    raise DecodeError(f"{file_name or 'mask'}: cannot decode mask ({error})") from error


def decode_example(record) -> dict:
  """A TFDS record -> {"image": uint8 [H, W, 3], "mask": uint8 [H, W], ...}.

  A mask of another size than its image is resized with nearest neighbour.
  """
  file_name = _text(record["file_name"])
  image = decode_image(record["image"], file_name)
  mask = decode_mask(record["mask"], file_name)
  if mask.shape != image.shape[:2]:
    mask = resize_mask(mask, image.shape[:2])
  return {"image": image, "mask": mask, "label": np.int32(record["label"]),
          "file_name": file_name}


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


def normalize(image: np.ndarray) -> np.ndarray:
  """uint8 [H, W, 3] -> float32 ImageNet-normalized."""
  return (image.astype(np.float32) - IMAGENET_MEAN) / IMAGENET_STD


def random_crop(image, mask, size, rng):
  """Scale so the short side is at least `size`, then crop size x size at random."""
  height, width = mask.shape
  scale = max(size / height, size / width, 1.0)
  if scale > 1.0:
    new_size = (math.ceil(height * scale), math.ceil(width * scale))
    image, mask = resize_image(image, new_size), resize_mask(mask, new_size)
    height, width = new_size
  top = rng.integers(0, height - size + 1)
  left = rng.integers(0, width - size + 1)
  return image[top:top + size, left:left + size], mask[top:top + size, left:left + size]


@dataclasses.dataclass
class TrainPreprocess(grain.transforms.RandomMap):
  image_size: int
  crop: str = "resize"          # "resize" or "random_crop"
  random_flip: bool = True

  def random_map(self, record, rng: np.random.Generator):
    example = decode_example(record)
    image, mask = example["image"], example["mask"]
    if self.crop == "random_crop":
      image, mask = random_crop(image, mask, self.image_size, rng)
    else:
      size = (self.image_size, self.image_size)
      image, mask = resize_image(image, size), resize_mask(mask, size)
    if self.random_flip and rng.random() < 0.5:
      image, mask = image[:, ::-1], mask[:, ::-1]
    return {"image": normalize(image), "mask": np.ascontiguousarray(mask),
            "label": example["label"]}


@dataclasses.dataclass
class EvalPreprocess(grain.transforms.Map):
  """Index -> resized example; indices past the end of the source give padding."""
  source: object
  image_size: int

  def map(self, index):
    size = (self.image_size, self.image_size)
    if index >= len(self.source):
      return {"image": np.zeros(size + (3,), np.float32), "mask": np.zeros(size, np.uint8),
              "label": np.int32(0), "valid": False, "original_mask": np.zeros((1, 1), np.uint8),
              "file_name": "", "index": np.int32(-1)}
    example = decode_example(self.source[index])
    return {"image": normalize(resize_image(example["image"], size)),
            "mask": resize_mask(example["mask"], size), "label": example["label"],
            "valid": True, "original_mask": example["mask"], "file_name": example["file_name"],
            "index": np.int32(index)}


_RAGGED_KEYS = ("original_mask", "file_name")


def collate_eval(examples):
  """Stack fixed-shape fields; keep ragged ones (original masks, names) as lists."""
  batch = {key: [e[key] for e in examples] for key in _RAGGED_KEYS}
  for key in examples[0]:
    if key not in _RAGGED_KEYS:
      batch[key] = np.stack([e[key] for e in examples])
  return batch


def per_process_batch_size(global_batch_size: int) -> int:
  if global_batch_size % jax.process_count():
    raise ValueError(f"batch_size={global_batch_size} is not divisible by the "
                     f"{jax.process_count()} processes")
  return global_batch_size // jax.process_count()


def create_train_dataset(source, config) -> grain.IterDataset:
  """Infinite, shuffled, batched training data for this process; same seed, same batches."""
  dataset = grain.MapDataset.source(source)
  dataset = dataset[jax.process_index()::jax.process_count()]
  dataset = dataset.seed(config.seed).shuffle().repeat(None)
  dataset = dataset.random_map(TrainPreprocess(
      config.image_size, config.input.train_crop, config.input.random_flip))
  dataset = dataset.batch(per_process_batch_size(config.batch_size), drop_remainder=True)
  iterable = dataset.to_iter_dataset(grain.ReadOptions(num_threads=config.input.num_threads,
                                                       prefetch_buffer_size=2 * config.batch_size))
  if config.input.num_workers > 0:
    iterable = iterable.mp_prefetch(grain.MultiprocessingOptions(config.input.num_workers))
  return iterable


def create_eval_dataset(source, image_size: int, batch_size: int,
                        num_threads: int = 4) -> grain.IterDataset:
  """Every example once, in order, in batches of `batch_size` (the last one padded)."""
  padded = math.ceil(len(source) / batch_size) * batch_size
  dataset = grain.MapDataset.range(padded).map(EvalPreprocess(source, image_size))
  dataset = dataset.batch(batch_size, batch_fn=collate_eval)
  return dataset.to_iter_dataset(grain.ReadOptions(num_threads=num_threads,
                                                   prefetch_buffer_size=2 * batch_size))

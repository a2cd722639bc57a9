"""grain input pipelines over the TFDS ArrayRecord builds.

Training: decode -> binarize mask -> resize (bilinear image, nearest mask) or
random crop -> random horizontal flip (and, if asked, a random quarter turn) ->
batch, images as uint8 pixels (a quarter of float32's bytes to stack and send;
the train step normalizes them on the device).
Evaluation: the same without randomness, the last batch padded with `valid = 0`
examples (never dropping or repeating an image), and each example's original
mask kept so metrics can be computed at the original size.
"""

import collections
import dataclasses
import hashlib
import json
import logging
import math
import threading
from collections.abc import Callable

import cv2
import grain
import jax
import numpy as np

from ncl_jax.input import post_processing
from ncl_jax.input.imaging import (
  DecodeError,
  decode_mask,
  decode_reduced,
  normalize,
  resize_image,
  resize_mask,
)


def _text(value) -> str:
  return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def decode_example(record, mask_size_policy: str = "resize", reduce_to=None) -> dict:
  """A record -> {"image": uint8 [h, w, 3], "mask": uint8 [H, W] in {0, 1}, ...}.

  The record's mask is PNG (or other) bytes, or already a uint8 array in {0, 1}
  (synthesized data). Masks are binarized at > 127 (`mask_nonbinary` says whether
  that changed anything); a mask of another size than its image is resized with
  nearest neighbour (`mask_resized`) or, with mask_size_policy="skip", rejected.
  With `reduce_to` (height, width), a large JPEG is decoded reduced (see
  imaging.decode_reduced): the image is then smaller than its mask.
  Raises DecodeError naming the file for anything unusable.
  """
  file_name = _text(record["file_name"])
  image, size = decode_reduced(record["image"], file_name, reduce_to)
  mask, nonbinary, resized = _record_mask(record, file_name, size, mask_size_policy)
  return {
    "image": image,
    "mask": mask,
    "label": np.int32(record["label"]),
    "file_name": file_name,
    "mask_resized": resized,
    "mask_nonbinary": nonbinary,
  }


def _record_mask(record, file_name: str, size, mask_size_policy: str):
  """(uint8 [H, W] in {0, 1} at the image's full `size`, nonbinary, resized)."""
  if isinstance(record["mask"], np.ndarray):
    mask, nonbinary = record["mask"].astype(np.uint8), False
  else:
    mask, nonbinary = decode_mask(record["mask"], file_name)
  resized = mask.shape != tuple(size)
  if resized:
    if mask_size_policy == "skip":
      raise DecodeError(
        f"{file_name}: mask {mask.shape[1]}x{mask.shape[0]} differs from "
        f"image {size[1]}x{size[0]} (mask_size_policy=skip)"
      )
    mask = resize_mask(mask, size)
  return mask, nonbinary, resized


class MaskCache:
  """Training masks already binarized and resized to the model's input, by the
  digest of their file bytes, so each is decoded once per process, not once per
  epoch: a full-size PNG mask of a 10 MP photo takes 20-35 ms of one core to
  decode here, more than its JPEG decoded in draft mode. Least recently used
  entries go first past `max_bytes` (masks are stored as packed bits);
  thread-safe; a copy sent to a worker process starts empty."""

  def __init__(self, max_bytes: int):
    self.max_bytes = max_bytes
    self._init()

  def _init(self):
    self._lock = threading.Lock()
    self._entries = collections.OrderedDict()
    self.bytes = self.hits = self.misses = 0

  def __getstate__(self):
    return {"max_bytes": self.max_bytes}

  def __setstate__(self, state):
    self.max_bytes = state["max_bytes"]
    self._init()

  @staticmethod
  def key(mask_bytes: bytes, *sizes) -> tuple:
    """The cache key of a mask: its bytes' digest and the sizes it is wanted at."""
    return (hashlib.blake2b(mask_bytes, digest_size=16).digest(),) + tuple(
      tuple(int(v) for v in size) for size in sizes
    )

  def get(self, key):
    """(uint8 mask, nonbinary, resized) or None."""
    with self._lock:
      entry = self._entries.get(key)
      if entry is None:
        self.misses += 1
        return None
      self._entries.move_to_end(key)
      self.hits += 1
    packed, shape, nonbinary, resized = entry
    mask = np.unpackbits(packed, count=shape[0] * shape[1]).reshape(shape)
    return mask, nonbinary, resized

  def put(self, key, mask: np.ndarray, nonbinary: bool, resized: bool):
    """Keeps a binarized mask (packed bits), evicting the least recently used beyond the budget."""
    packed = np.packbits(mask.ravel())
    with self._lock:
      if key in self._entries or packed.nbytes > self.max_bytes:
        return
      self._entries[key] = (packed, mask.shape, nonbinary, resized)
      self.bytes += packed.nbytes
      while self.bytes > self.max_bytes:
        evicted = self._entries.popitem(last=False)[1]
        self.bytes -= evicted[0].nbytes


TRAIN_CROPS = ("resize", "random_crop", "native_crop")


def native_crop(image, mask, size, rng):
  """A random size x size window of `image` as it is given, without resampling (the
  file's own resolution for `train_crop="native_crop"`, the resized image for
  `train_crop_size`); a side shorter than `size` is reflect-padded at the bottom or
  right first (as `Predictor` pads windows), the mask with it.

  image [height, width, 3], mask [height, width] -> [size, size, 3], [size, size].
  """
  height, width = mask.shape
  pad = ((0, max(0, size - height)), (0, max(0, size - width)))
  if any(p[1] for p in pad):
    image = np.pad(image, pad + ((0, 0),), mode="reflect")
    mask = np.pad(mask, pad, mode="reflect")
  top = rng.integers(0, image.shape[0] - size + 1)
  left = rng.integers(0, image.shape[1] - size + 1)
  return image[top : top + size, left : left + size], mask[top : top + size, left : left + size]


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
  return image[top : top + size, left : left + size], mask[top : top + size, left : left + size]


@dataclasses.dataclass
class TrainPreprocess(grain.transforms.RandomMap):
  """Record -> training example; an unusable record becomes {"skip_reason": ...}
  (dropped by DropMarked and counted in the consuming process)."""

  image_size: int
  crop: str = "resize"  # one of TRAIN_CROPS
  random_flip: bool = True
  mask_size_policy: str = "resize"
  # A random multiple of 90 degrees; with the flip, all 8 symmetries of the square.
  random_rotate: bool = False
  # With crop "resize": a random crop_size x crop_size window of the resized image
  # (0: the whole image).
  crop_size: int = 0

  # Masks decoded once per process (resize only: a random crop needs them whole).
  mask_cache: MaskCache | None = None
  # Global post-processing as IMDL-BenCo trains with (input/post_processing.py).
  post: post_processing.PostProcessing = post_processing.PostProcessing()

  def random_map(self, record, rng: np.random.Generator):
    """A decoded, resized (or cropped), augmented training example of `record`."""
    try:
      if self.crop in ("random_crop", "native_crop"):
        example = decode_example(record, self.mask_size_policy)
        crop = random_crop if self.crop == "random_crop" else native_crop
        image, mask = crop(example["image"], example["mask"], self.image_size, rng)
      else:
        example = self._resized_example(record, rng)
        image, mask = example["image"], example["mask"]
        if 0 < self.crop_size < self.image_size:
          image, mask = native_crop(image, mask, self.crop_size, rng)
    except DecodeError as error:
      return {"skip_reason": str(error)}
    if self.random_flip and rng.random() < 0.5:
      # OpenCV's flip writes a contiguous copy at memory speed; NumPy's copy of a
      # reversed view goes pixel by pixel.
      image, mask = cv2.flip(image, 1), cv2.flip(mask, 1)
    if self.random_rotate:
      quarter_turns = int(rng.integers(4))
      image, mask = np.rot90(image, quarter_turns), np.rot90(mask, quarter_turns)
    if self.post.active:
      image = post_processing.photometric(image, rng, self.post)
    return {
      "image": np.ascontiguousarray(image),  # uint8: normalized on the device (train_step)
      "mask": np.ascontiguousarray(mask),
      "label": example["label"],
      "mask_resized": example["mask_resized"],
      "mask_nonbinary": example["mask_nonbinary"],
    }

  def _resized_example(self, record, rng) -> dict:
    """decode_example's fields with image and mask at image_size x image_size (the
    image rescaled at random first where post-processing says so)."""
    size = (self.image_size, self.image_size)
    file_name = _text(record["file_name"])
    image, full_size = decode_reduced(record["image"], file_name, size)
    key = cached = None
    if self.mask_cache is not None and not isinstance(record["mask"], np.ndarray):
      key = MaskCache.key(record["mask"], full_size, size)
      cached = self.mask_cache.get(key)
    if cached is None:
      mask, nonbinary, resized = _record_mask(record, file_name, full_size, self.mask_size_policy)
      cached = resize_mask(mask, size), nonbinary, resized
      if key is not None:
        self.mask_cache.put(key, *cached)
    mask, nonbinary, resized = cached
    return {
      "image": resize_image(post_processing.scaled(image, rng, self.post), size),
      "mask": mask,
      "label": np.int32(record["label"]),
      "mask_resized": resized,
      "mask_nonbinary": nonbinary,
    }


class DataQuality:
  """Counts of what the pipeline repaired or skipped (thread-safe)."""

  def __init__(self):
    self._lock = threading.Lock()
    self.counts = collections.Counter()
    self.skipped = []  # (file name and reason) of the skipped examples, in order

  def record_skip(self, reason: str):
    """Counts an example skipped, with its reason."""
    with self._lock:
      self.counts["skipped"] += 1
      self.skipped.append(reason)
    logging.warning("skipped a training example: %s", reason)

  def record_batch(self, batch):
    """Counts the batch's repaired masks."""
    with self._lock:
      self.counts["mask_resized"] += int(np.sum(batch["mask_resized"]))
      self.counts["mask_binarized"] += int(np.sum(batch["mask_nonbinary"]))

  def snapshot(self) -> dict:
    """The counts so far, as {"data_<what>": count} metrics."""
    with self._lock:
      return {f"data_{key}": value for key, value in sorted(self.counts.items())}


class DropMarked(grain.transforms.Filter):
  """Drops the examples TrainPreprocess marked; their reasons wait in `pending`
  until the next batch (`BatchWithSkips`) carries them to the consuming process."""

  def __init__(self):
    self.pending = []

  def filter(self, element) -> bool:
    """Whether the example is kept; a skipped one's reason is kept for the batch."""
    if "skip_reason" in element:
      self.pending.append(element["skip_reason"])
      return False
    return True


@dataclasses.dataclass
class BatchWithSkips:
  """grain batch_fn: the examples stacked, plus "skipped", the reasons `drop` noted
  while this batch was filled. Both live in the same (worker) process."""

  drop: DropMarked

  def __call__(self, elements) -> dict:
    """The examples stacked into a batch, with the skip reasons since the last batch."""
    batch = stack_examples(elements)
    batch["skipped"], self.drop.pending = self.drop.pending, []
    return batch


@dataclasses.dataclass
class RecordSkips(grain.transforms.Map):
  """Moves a batch's "skipped" reasons into `quality` (in the consuming process)."""

  quality: DataQuality

  def map(self, batch) -> dict:
    """The batch, its skip reasons recorded in the data-quality counts."""
    for reason in batch.pop("skipped"):
      self.quality.record_skip(reason)
    return batch


EVAL_PROTOCOLS = ("ncl", "imdlbenco", "imdlbenco_pad")
IMDLBENCO_PROTOCOLS = ("imdlbenco", "imdlbenco_pad")
# IMDL-BenCo's two test modes (its transforms/iml_transforms.py, datasets/
# abstract_dataset.py). "imdlbenco": 512x512, images resized with OpenCV's
# INTER_LINEAR, masks with INTER_NEAREST (albumentations' Resize). "imdlbenco_pad":
# the image and mask zero-padded at the bottom and right to 1024x1024 (the padding
# normalized as black pixels are) and cropped to their top-left 1024x1024 where
# larger, with a shape mask of the image's own pixels, outside which nothing is scored.
IMDLBENCO_SIZE = 512
IMDLBENCO_PAD_SIZE = 1024


def pad_top_left(array: np.ndarray, side: int) -> np.ndarray:
  """[H, W, ...] -> [side, side, ...]: zero-padded at the bottom and right, and
  cropped to the top-left side x side where larger."""
  canvas = np.zeros((side, side) + array.shape[2:], array.dtype)
  height, width = min(array.shape[0], side), min(array.shape[1], side)
  canvas[:height, :width] = array[:height, :width]
  return canvas


def imdlbenco_view(image, mask, protocol: str):
  """(image, mask, region) as IMDL-BenCo's test mode `protocol` sees them; region is
  the bool [S, S] shape mask of "imdlbenco_pad", None for the resize mode."""
  if protocol == "imdlbenco":
    side = (IMDLBENCO_SIZE, IMDLBENCO_SIZE)
    image = cv2.resize(image, side, interpolation=cv2.INTER_LINEAR)
    return image, cv2.resize(mask, side, interpolation=cv2.INTER_NEAREST), None
  region = pad_top_left(np.ones(mask.shape, bool), IMDLBENCO_PAD_SIZE)
  padded_image = pad_top_left(image, IMDLBENCO_PAD_SIZE)
  return padded_image, pad_top_left(mask, IMDLBENCO_PAD_SIZE), region


@dataclasses.dataclass
class EvalPreprocess(grain.transforms.Map):
  """Index -> resized example; indices past the end of the source give padding.

  `original_mask` is the mask the metrics use: the image's own ("ncl") or
  IMDL-BenCo's ("imdlbenco", "imdlbenco_pad": see `imdlbenco_view`); `region` the
  pixels that are scored (None: all of them)."""

  source: object
  image_size: int
  mask_size_policy: str = "resize"
  # Optional (index, uint8 image) -> uint8 image applied to the image only, e.g. a
  # robustness perturbation; the mask and metrics stay at the original size.
  perturbation: Callable | None = None
  protocol: str = "ncl"

  def _padding(self, index=-1, file_name="", skip_reason=""):
    size = (self.image_size, self.image_size)
    return {
      "image": np.zeros(size + (3,), np.float32),
      "mask": np.zeros(size, np.uint8),
      "label": np.int32(0),
      "valid": False,
      "original_mask": np.zeros((1, 1), np.uint8),
      "region": None,
      "file_name": file_name,
      "index": np.int32(index),
      "skip_reason": skip_reason,
    }

  def map(self, index):
    """The evaluation example at `index` (a padding example past the end)."""
    size = (self.image_size, self.image_size)
    if index >= len(self.source):
      return self._padding()
    record = self.source[index]
    reduce = self.perturbation is None and self.protocol == "ncl"
    try:  # a perturbation applies to the file's full resolution, as to a user's file
      example = decode_example(record, self.mask_size_policy, size if reduce else None)
    except DecodeError as error:
      return self._padding(index, _text(record["file_name"]), str(error))
    image, mask = example["image"], example["mask"]
    if self.perturbation is not None:
      image = self.perturbation(index, image)
    region = None
    if self.protocol in IMDLBENCO_PROTOCOLS:
      image, mask, region = imdlbenco_view(image, mask, self.protocol)
    return {
      "image": normalize(resize_image(image, size)),
      "mask": resize_mask(mask, size),
      "label": example["label"],
      "valid": True,
      "original_mask": mask,
      "region": region,
      "file_name": example["file_name"],
      "index": np.int32(index),
      "skip_reason": "",
    }


_RAGGED_KEYS = ("original_mask", "region", "file_name", "skip_reason")


def stack_examples(examples, ragged=()) -> dict:
  """One batch: each field of the examples stacked, the `ragged` ones kept as lists."""
  return {
    key: [e[key] for e in examples] if key in ragged else np.stack([e[key] for e in examples])
    for key in examples[0]
  }


def collate_eval(examples):
  """Stack fixed-shape fields; keep ragged ones (original masks, names) as lists."""
  return stack_examples(examples, _RAGGED_KEYS)


def per_process_batch_size(global_batch_size: int) -> int:
  """This process's share of the global batch (ValueError if the processes do not divide it)."""
  if global_batch_size % jax.process_count():
    raise ValueError(
      f"batch_size={global_batch_size} is not divisible by the {jax.process_count()} processes"
    )
  return global_batch_size // jax.process_count()


class ProcessRows:
  """This process's rows of every global batch of an indexable stream: local
  element j is element (j // b) * b * P + p * b + j % b, so P processes together
  read exactly the global batches one process would (b = per-process batch)."""

  def __init__(self, dataset, local_batch: int, process_index: int, process_count: int):
    self.dataset, self.local_batch = dataset, local_batch
    self.process_index, self.process_count = process_index, process_count

  def __len__(self):
    return len(self.dataset) // self.process_count

  def __getitem__(self, index):
    batch, row = divmod(index, self.local_batch)
    return self.dataset[(batch * self.process_count + self.process_index) * self.local_batch + row]


def train_preprocess(config) -> TrainPreprocess:
  """The per-example training transform of `config`."""
  mask_cache = (
    MaskCache(int(config.input.mask_cache_mb * 2**20)) if config.input.mask_cache_mb > 0 else None
  )
  return TrainPreprocess(
    config.image_size,
    config.input.train_crop,
    config.input.random_flip,
    config.input.mask_size_policy,
    mask_cache=mask_cache,
    random_rotate=config.input.random_rotate,
    crop_size=config.input.train_crop_size,
    post=post_processing.PostProcessing.from_config(config.input.post_processing),
  )


def create_train_dataset(source, config, quality: DataQuality = None) -> grain.IterDataset:
  """Infinite, shuffled, batched training data for this process; same seed, same
  global batches whatever the number of processes.

  Unusable examples are dropped, so no batch is short, and counted in `quality`
  (in this process), so nothing is dropped silently. Worker processes
  (`input.num_workers`) each assemble whole batches: taking one batch instead of
  each example costs this process about a seventh of the CPU time (at 512 px),
  CPU that the training loop shares.
  """
  local_batch = per_process_batch_size(config.batch_size)
  dataset = grain.MapDataset.source(source).seed(config.seed).shuffle().repeat(None)
  dataset = dataset.random_map(train_preprocess(config))
  if jax.process_count() > 1:
    dataset = grain.MapDataset.source(
      ProcessRows(dataset, local_batch, jax.process_index(), jax.process_count())
    )
  iterable = dataset.to_iter_dataset(
    grain.ReadOptions(
      num_threads=config.input.num_threads, prefetch_buffer_size=2 * config.batch_size
    )
  )
  drop = DropMarked()
  iterable = iterable.filter(drop).batch(
    local_batch, drop_remainder=True, batch_fn=BatchWithSkips(drop)
  )
  if config.input.num_workers > 0:
    iterable = iterable.mp_prefetch(grain.MultiprocessingOptions(config.input.num_workers))
  return iterable.map(RecordSkips(quality if quality is not None else DataQuality()))


def create_eval_dataset(
  source,
  image_size: int,
  batch_size: int,
  num_threads: int = 4,
  mask_size_policy: str = "resize",
  perturbation: Callable | None = None,
  protocol: str = "ncl",
) -> grain.IterDataset:
  """Every example once, in order, in batches of `batch_size` (the last one padded).

  An unusable example comes as `valid = False` with its `skip_reason`."""
  padded = math.ceil(len(source) / batch_size) * batch_size
  dataset = grain.MapDataset.range(padded).map(
    EvalPreprocess(source, image_size, mask_size_policy, perturbation, protocol)
  )
  dataset = dataset.batch(batch_size, batch_fn=collate_eval)
  return dataset.to_iter_dataset(
    grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=2 * batch_size)
  )


class DevicePrefetch:
  """An iterator that keeps the next `depth` batches already transferred to the
  devices, so each step's inputs are in device memory before the step runs.

  `put` maps a host batch to the batch the step takes (e.g. sharded jax.Arrays).
  Checkpointing sees the position of the first batch *not yet returned*: batches
  sitting in the buffer are produced again after a restore, so a resumed run gets
  exactly the batches an uninterrupted one would. It follows the interface of
  grain's checkpoint handler (get_state/set_state as bytes, start_prefetch).
  """

  def __init__(self, iterator, put: Callable, depth: int = 2):
    if depth < 0:
      raise ValueError(f"prefetch depth must be >= 0, got {depth}")
    self._iterator, self._put, self._depth = iterator, put, depth
    self._buffer = collections.deque()  # (inner state before the batch, put batch)

  def __iter__(self):
    return self

  def _fill(self, size):
    while len(self._buffer) < size:
      state = self._iterator.get_state()
      self._buffer.append((state, self._put(next(self._iterator))))

  def __next__(self):
    self._fill(self._depth + 1)
    return self._buffer.popleft()[1]

  def get_state(self) -> bytes:
    """The input position of the first batch the step has not consumed."""
    state = self._buffer[0][0] if self._buffer else self._iterator.get_state()
    return json.dumps(state, indent=4).encode()

  def set_state(self, state: bytes):
    """Moves the input to a saved position, dropping prefetched batches."""
    self._buffer.clear()
    self._iterator.set_state(json.loads(state))

  def start_prefetch(self):
    """Called by grain's checkpoint handler after a restore; filling is lazy."""

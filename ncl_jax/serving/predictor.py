"""A trained model as a function of images: `Predictor` and its `Prediction`.

  predictor = Predictor.from_pretrained()                       # the shipped model
  predictor = Predictor.from_checkpoint("runs/synthetic")       # a workdir or a step dir
  prediction = predictor.predict("photo.jpg")                   # path, PIL image or array
  prediction.probabilities   # float32 [H, W] at the image's original size
  prediction.score           # image score: the image-level head's probability, or
                             # config.image_score_quantile of the map (serving/scoring.py)
  prediction.edited          # score > the model's calibrated threshold (None: none)

Large images (`strategy`, by default the config's `prediction_strategy`):
`"resize"` (the default) resizes the whole image to the training size and the
prediction back, as training and evaluation see images (a large JPEG file is
decoded reduced first, exactly as the input pipeline does); `"sliding"`
predicts overlapping training-size windows of the full-resolution image and
averages them; `"auto"` slides over images larger than 2x the training size on
either side and resizes the others. Every input is mapped to [n, S, S, 3]
windows, n a power of two up to batch_size, so the model is compiled a few
times at most, never once per image, and one image costs one window. Each
window's probabilities average `views` flips and transposes of it (the
checkpoint's `prediction_views` unless given).
"""

import dataclasses
import os
from collections.abc import Sequence

import jax
import numpy as np
from PIL import Image, ImageOps

from ncl_jax import models, paths
from ncl_jax.input import imaging
from ncl_jax.models import conv
from ncl_jax.serving import export as export_lib
from ncl_jax.serving import pretrained as pretrained_lib
from ncl_jax.serving import restore as restore_lib
from ncl_jax.serving.prediction import check_views, predict_probabilities
from ncl_jax.serving.scoring import image_scorer

STRATEGIES = ("resize", "sliding", "auto")


@dataclasses.dataclass
class Prediction:
  """A prediction of one image: its probability map, image score, decision and mask."""

  probabilities: np.ndarray  # float32 [H, W] in [0, 1], at the original size
  score: float  # serving.scoring.image_scorer of the model (the map's max by default)
  # Whether the image was edited: score > the model's decision threshold, which a
  # shipped model sets on validation at a false-alarm rate; None without one.
  edited: bool | None = None

  def mask(self, threshold=0.5) -> np.ndarray:
    """uint8 [H, W]: 1 where predicted manipulated."""
    return (self.probabilities > threshold).astype(np.uint8)


def load_image(image) -> np.ndarray:
  """A path, PIL image or array -> uint8 [H, W, 3] RGB, EXIF orientation applied.

  Grayscale, RGBA, palette, 16-bit and CMYK inputs are converted; an image over
  imaging.MAX_IMAGE_PIXELS is refused with DecodeError.
  """
  if isinstance(image, (str, os.PathLike)):
    return imaging.decode_image(paths.resolve(image).read_bytes(), str(image), exif_transpose=True)
  if isinstance(image, Image.Image):
    return imaging.to_rgb(ImageOps.exif_transpose(image))
  return imaging.array_to_rgb(image)


def sliding_windows(height, width, window, overlap=0.5) -> list[tuple]:
  """Top-left corners of windows covering [height, width] (sides >= window)."""
  stride = max(1, int(window * (1 - overlap)))

  def starts(size):
    last = size - window
    return sorted(set(list(range(0, last + 1, stride)) + [last]))

  return [(top, left) for top in starts(height) for left in starts(width)]


class Predictor:
  """A trained NCL model as a function of images (no config file needed).

  `decision_threshold`: the image score above which `Prediction.edited` is true
  (None: no decision); `model_info`: what identifies the model in outputs (a
  shipped model's name, version and SHA-256, or a checkpoint's path and step);
  `members` > 1: `variables` are an ensemble of that many networks of `config`'s
  architecture (prediction.stack_members), whose maps are averaged.
  """

  def __init__(
    self,
    config,
    variables,
    strategy=None,
    batch_size=8,
    overlap=0.5,
    views=None,
    decision_threshold=None,
    model_info=None,
    members=1,
  ):
    strategy = config.get("prediction_strategy", "resize") if strategy is None else strategy
    if strategy not in STRATEGIES:
      raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    # Checked here too, so that a bad value fails before anything compiles.
    self.views = check_views(config.prediction_views if views is None else views)
    self.config, self.variables, self.members = config, variables, members
    if members > 1 and config.model.get("image_head", "none") != "none":
      raise ValueError(
        f"an ensemble's image score is its map's quantile; its networks have "
        f"model.image_head={config.model.image_head!r}"
      )
    self.image_size = config.image_size
    self.strategy, self.batch_size, self.overlap = strategy, batch_size, overlap
    self.decision_threshold, self.model_info = decision_threshold, dict(model_info or {})
    self.false_alarm_rate = None  # the validation false-alarm rate the threshold was set at
    self.model = models.create_model(config.model, config.patch_size)
    self.image_scorer = image_scorer(config, variables)  # probabilities [H, W] -> score
    self.traces = 0  # how often the model function was compiled (tests assert on it)
    self._forward = jax.jit(
      self._probabilities, compiler_options=conv.compiler_options(self.model.conv_impl)
    )

  def _probabilities(self, variables, images_batch):
    self.traces += 1
    return predict_probabilities(self.model, variables, images_batch, self.views, self.members)

  @classmethod
  def from_checkpoint(cls, path, step=None, **kwargs) -> "Predictor":
    """`path`: a workdir (its best checkpoint, or `step`) or one checkpoint step dir."""
    restored = restore_lib.restore(path, step)
    info = {"checkpoint": str(path), "step": restored.step}
    return cls(restored.config, restored.variables, model_info=info, **kwargs)

  @classmethod
  def from_pretrained(cls, name=None, **kwargs) -> "Predictor":
    """A model shipped in the package (`name`, or the newest); nothing is downloaded.
    Its decision threshold is the one calibrated at release."""
    model = pretrained_lib.load(name)
    info = {key: model.info[key] for key in ("name", "version", "sha256")}
    predictor = cls(
      model.config,
      model.variables,
      decision_threshold=model.info["decision_threshold"],
      model_info=info,
      members=model.info.get("members", 1),
      **kwargs,
    )
    predictor.false_alarm_rate = model.info["false_alarm_rate"]
    return predictor

  def _run(self, windows: np.ndarray) -> np.ndarray:
    """float32 [n, S, S, 3] -> [n, S, S], in batches of power-of-two sizes."""
    outputs = []
    for start in range(0, len(windows), self.batch_size):
      chunk = windows[start : start + self.batch_size]
      # Padded to a power of two up to batch_size: one image is one window, not a
      # whole batch of padding, at the cost of a few compilations at most.
      size = min(self.batch_size, 1 << (len(chunk) - 1).bit_length())
      padded = np.zeros((size,) + chunk.shape[1:], np.float32)
      padded[: len(chunk)] = chunk
      outputs.append(np.asarray(self._forward(self.variables, padded))[: len(chunk)])
    return np.concatenate(outputs) if outputs else np.zeros((0,) * 3, np.float32)

  def _uses_sliding(self, size):
    if self.strategy != "auto":
      return self.strategy == "sliding"
    return max(size) > 2 * self.image_size

  def _read(self, image):
    """(uint8 array to predict on, (H, W) of the image). A file goes through
    imaging.decode_reduced, as training and evaluation read files; sliding
    windows need the full resolution."""
    if isinstance(image, (str, os.PathLike)) and self.strategy != "sliding":
      data = paths.resolve(image).read_bytes()
      array, size = imaging.decode_reduced(
        data, str(image), (self.image_size,) * 2, exif_transpose=True
      )
      if not self._uses_sliding(size):
        return array, size
    array = load_image(image)
    return array, array.shape[:2]

  def predict(self, image) -> Prediction:
    """The Prediction of one image (a path, PIL image or uint8 array)."""
    return self.predict_batch([image])[0]

  def predict_batch(self, images: Sequence) -> list[Prediction]:
    """Predictions for many images; all their windows share compiled batches."""
    read = [self._read(image) for image in images]
    plans, windows = [], []
    for array, size in read:
      if self._uses_sliding(size):
        padded, corners = self._pad_for_windows(array)
        plans.append(("sliding", len(windows), corners, padded.shape[:2]))
        windows += [
          imaging.normalize(padded[t : t + self.image_size, l : l + self.image_size])
          for t, l in corners
        ]
      else:
        plans.append(("resize", len(windows), None, None))
        windows.append(imaging.model_input(array, self.image_size))
    outputs = self._run(np.stack(windows)) if windows else []
    return [self._assemble(size, plan, outputs) for (_, size), plan in zip(read, plans)]

  def _pad_for_windows(self, array):
    """Reflect-pad sides shorter than the window; returns (padded, corners)."""
    height, width = array.shape[:2]
    pad_h, pad_w = max(0, self.image_size - height), max(0, self.image_size - width)
    if pad_h or pad_w:
      array = np.pad(array, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect")
    return array, sliding_windows(array.shape[0], array.shape[1], self.image_size, self.overlap)

  def _assemble(self, size, plan, outputs) -> Prediction:
    kind, first, corners, padded_shape = plan
    height, width = size
    if kind == "resize":
      probabilities = imaging.resize_probabilities(outputs[first], (height, width))
    else:
      total = np.zeros(padded_shape, np.float32)
      count = np.zeros(padded_shape, np.float32)
      size = self.image_size
      for k, (top, left) in enumerate(corners):
        total[top : top + size, left : left + size] += outputs[first + k]
        count[top : top + size, left : left + size] += 1
      probabilities = (total / count)[:height, :width]
    probabilities = probabilities.astype(np.float32)
    score = self.image_scorer(probabilities)
    edited = None if self.decision_threshold is None else bool(score > self.decision_threshold)
    return Prediction(probabilities, score, edited)

  def export(self, directory):
    """A serialized StableHLO function plus its parameters (serving.export.export)."""
    return export_lib.export(self, directory)

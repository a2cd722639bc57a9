"""Localize manipulations in your own images with the shipped model or a checkpoint.

  from ncl_jax.inference import Predictor
  predictor = Predictor.from_pretrained()                       # the newest shipped model
  predictor = Predictor.from_checkpoint("runs/synthetic")       # a workdir or a step dir
  prediction = predictor.predict("photo.jpg")                   # path, PIL image or array
  prediction.probabilities   # float32 [H, W] at the image's original size
  prediction.score           # image score: config.image_score_quantile of the map
  prediction.edited          # the calibrated decision (None for a checkpoint)

The stable import path of ncl_jax.serving's predictor and export; importing it
loads no training code.
"""

from ncl_jax.serving.export import load_exported
from ncl_jax.serving.predictor import (
  STRATEGIES,
  Prediction,
  Predictor,
  load_image,
  sliding_windows,
)
from ncl_jax.serving.pretrained import shipped

__all__ = [
  "STRATEGIES",
  "Prediction",
  "Predictor",
  "load_exported",
  "load_image",
  "shipped",
  "sliding_windows",
]

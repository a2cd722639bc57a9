"""The image score of a prediction: the trained image-level decision's probability
where the model has one (models/image_head.py), else `config.image_score_quantile`
of the probability map."""

from collections.abc import Callable

import numpy as np

from ncl_jax import metrics
from ncl_jax.models import image_head


def _host_array(value) -> np.ndarray:
  """A parameter as NumPy: replicated arrays are read from this process's first copy."""
  shards = getattr(value, "addressable_shards", None)
  return np.asarray(shards[0].data if shards else value, np.float32)


def head_weights(config, variables):
  """(kernel [len(STATISTICS)], bias) of the image-level head's logistic regression,
  for a model with a head (`model.image_head`); None for one without."""
  if (config.get("model") or {}).get("image_head", "none") == "none":
    return None
  logistic = variables["params"]["image_head"]["logistic"]
  return _host_array(logistic["kernel"])[:, 0], float(_host_array(logistic["bias"])[0])


def head_scorer(config, variables) -> Callable[[np.ndarray], float] | None:
  """probabilities [H, W] -> the image-level head's probability of "edited", for a
  model with a head; None for one without."""
  weights = head_weights(config, variables)
  if weights is None:
    return None
  kernel, bias = weights

  def score(probabilities) -> float:
    statistics = image_head.pooled_statistics(np.asarray(probabilities)[None], xp=np)[0]
    return float(1.0 / (1.0 + np.exp(-(statistics @ kernel + bias))))

  return score


def image_scorer(config, variables) -> Callable[[np.ndarray], float]:
  """probabilities [H, W] -> the image score: the head's probability, or the map's
  `config.image_score_quantile`."""
  head = head_scorer(config, variables)
  if head is not None:
    return head
  return lambda probabilities: metrics.image_score(probabilities, config.image_score_quantile)

"""tools/recipe_ab.py's average of unlike networks: each image's maps averaged and
the average scored as the first model's config scores a map (against NumPy)."""

import types

import ml_collections
import numpy as np
import pytest

from ncl_jax.serving.predictor import Prediction
from tools import recipe_ab


def stand_in(probabilities, image_head="none"):
  """What AveragedPredictors reads of a Predictor, predicting `probabilities` [H, W]."""
  config = ml_collections.ConfigDict(
    {"model": {"image_head": image_head}, "image_score_quantile": 0.9}
  )
  return types.SimpleNamespace(
    config=config,
    model_info={"name": image_head},
    predict=lambda image: Prediction(probabilities, float(probabilities.max())),
  )


def test_the_average_of_unlike_networks_is_scored_by_the_first_config():
  maps = np.random.default_rng(0).uniform(size=(2, 12, 9)).astype(np.float32)
  prediction = recipe_ab.AveragedPredictors([stand_in(maps[0]), stand_in(maps[1])]).predict("x")
  np.testing.assert_allclose(prediction.probabilities, maps.mean(axis=0), rtol=1e-6)
  assert prediction.score == pytest.approx(np.quantile(maps.mean(axis=0), 0.9))
  assert prediction.edited is None


def test_a_network_with_an_image_head_is_refused_by_name():
  with pytest.raises(ValueError, match="pooled"):
    recipe_ab.AveragedPredictors([stand_in(np.zeros((2, 2))), stand_in(np.ones((2, 2)), "pooled")])

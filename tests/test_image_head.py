"""The trained image-level decision (`model.image_head="pooled"`): its statistics
against NumPy, its loss, and its probability as the image score of predictions
and evaluations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ncl_jax import metrics, models
from ncl_jax.evaluation.loop import evaluate
from ncl_jax.method import objective
from ncl_jax.models import image_head
from ncl_jax.models.ncl import NCLModel
from ncl_jax.serving.predictor import Predictor
from tests.conftest import make_runtime, tiny_config
from tests.test_golden import fixed_batch, fixed_examples


def numpy_statistics(probabilities):
  """[H, W] -> max, top-1% mean, top-10% mean, mean, as image_head.STATISTICS says."""
  ranked = np.sort(np.asarray(probabilities, np.float64).ravel())[::-1]
  top = [ranked[: max(1, ranked.size * p // 100)].mean() for p in (1, 10)]
  return np.array([ranked[0], *top, ranked.mean()])


def test_pooled_statistics_match_numpy():
  maps = np.random.default_rng(0).random((3, 37, 41)).astype(np.float32)
  maps[2] = 0.25  # a flat map: every statistic is its value
  for xp in (jnp, np):  # in the model, and on the host at prediction
    got = np.asarray(image_head.pooled_statistics(maps, xp=xp))
    for index in range(3):
      np.testing.assert_allclose(got[index], numpy_statistics(maps[index]), rtol=1e-5)


def test_the_head_trains_and_its_probability_is_the_image_score(tmp_path, monkeypatch):
  config = tiny_config(tmp_path, **{"model.image_head": "pooled", "optimizer.warmup_steps": 0})
  runtime, state = make_runtime(config)
  assert not np.any(state.params["image_head"]["logistic"]["kernel"])  # starts at 0.5
  batch = fixed_batch(config, 0)
  state, terms = runtime.train_step(state, {k: runtime.mesh.shard(v) for k, v in batch.items()})
  assert np.any(np.asarray(state.params["image_head"]["logistic"]["kernel"]))  # it learned
  assert float(terms["image_bce"]) == pytest.approx(np.log(2), rel=1e-5)  # the first step's

  # The loss term against NumPy, on outputs of the trained state.
  variables = jax.device_get(state.variables)
  model = models.create_model(config.model, config.patch_size)
  outputs = model.apply(variables, batch["image"], train=False)
  stride4 = 1 / (1 + np.exp(-np.asarray(outputs["aux_logits"]["stride4"][..., 0], np.float64)))
  logistic = variables["params"]["image_head"]["logistic"]
  kernel, bias = np.asarray(logistic["kernel"])[:, 0], float(logistic["bias"][0])
  expected_logits = np.array([numpy_statistics(m) @ kernel + bias for m in stride4])
  np.testing.assert_allclose(outputs["image_logits"], expected_logits, rtol=1e-4, atol=1e-6)
  targets = objective.Targets(np.asarray(batch["mask"], np.float32), None)
  labels = batch["mask"].reshape(len(batch["mask"]), -1).max(1)
  bce = np.mean(np.logaddexp(0, expected_logits) - labels * expected_logits)
  assert float(objective.image_terms(outputs, targets)["image_bce"]) == pytest.approx(bce, 1e-4)

  # A prediction's score is the head's probability of its map.
  image = np.random.default_rng(1).integers(0, 256, (50, 70, 3), np.uint8)
  prediction = Predictor(config, variables, views=1).predict(image)
  statistics = numpy_statistics(prediction.probabilities)
  assert prediction.score == pytest.approx(1 / (1 + np.exp(-(statistics @ kernel + bias))), 1e-4)

  # An evaluation scores each image by the head's probability of its map.
  scores = []
  add = metrics.Evaluator.add

  def spy(self, probabilities, mask, label=None, score=None):
    scores.append((score, Predictor(config, variables).image_scorer(probabilities)))
    return add(self, probabilities, mask, label, score)

  monkeypatch.setattr(metrics.Evaluator, "add", spy)
  evaluate(runtime.predict, runtime.mesh, state.variables, fixed_examples(), config)
  assert len(scores) == len(fixed_examples())
  for given, expected in scores:
    assert given == pytest.approx(expected, 1e-6)


def test_a_detached_head_learns_from_the_map_without_moving_it():
  images = jax.random.normal(jax.random.PRNGKey(1), (2, 32, 32, 3))
  mask = np.zeros((2, 32, 32), np.float32)
  mask[0, 4:12, 4:12] = 1  # one image edited, one untouched
  targets = objective.Targets(mask, None)
  grads = {}
  for head in ("pooled", "pooled_detached"):
    model = NCLModel(
      depth=18, width=0.125, patch_size=16, aspp_channels=16, decoder_channels=16, image_head=head
    )
    variables = jax.jit(model.init)(jax.random.PRNGKey(0), images)
    # A trained head (the zero-initialized one sends nothing back to the map).
    variables["params"]["image_head"]["logistic"]["kernel"] += 1.0

    def image_bce(params, model=model, variables=variables):
      outputs = model.apply({**variables, "params": params}, images, train=False)
      return objective.image_terms(outputs, targets)["image_bce"]

    grads[head] = jax.jit(jax.grad(image_bce))(variables["params"])
  for name, tree in grads["pooled_detached"].items():
    largest = max(float(np.abs(x).max()) for x in jax.tree.leaves(tree))
    if name == "image_head":  # the head itself learns as the attached one does
      assert largest > 0
      jax.tree.map(np.testing.assert_allclose, tree, grads["pooled"][name])
    else:
      assert largest == 0, name
  assert max(float(np.abs(x).max()) for x in jax.tree.leaves(grads["pooled"]["encoder"])) > 0

"""The image-level decision fitted on a trained network's maps (ncl_jax.fit_image_head):
the logistic regression against NumPy, and the written workdir predicting the
network's maps unchanged with the fitted head's probability as the image score."""

import io

import numpy as np
import pytest
from PIL import Image

from ncl_jax import fit_image_head, inference
from ncl_jax.serving.restore import restore
from tests.test_image_head import numpy_statistics
from tests.test_old_checkpoint import CHECKPOINT, fixed_image


def test_fit_logistic_is_the_penalized_optimum_and_recovers_known_weights():
  rng = np.random.default_rng(0)
  features = rng.random((4000, 3))
  truth, truth_bias = np.array([4.0, -2.0, 1.0]), -0.5
  labels = (rng.random(4000) < 1 / (1 + np.exp(-(features @ truth + truth_bias)))).astype(float)
  kernel, bias = fit_image_head.fit_logistic(features, labels, l2=1e-3)
  # The penalized loss's gradient vanishes at the fit (the kernel penalized, the bias not).
  residual = 1 / (1 + np.exp(-(features @ kernel + bias))) - labels
  np.testing.assert_allclose(features.T @ residual / len(labels) + 1e-3 * kernel, 0, atol=1e-8)
  assert abs(residual.mean()) < 1e-8
  np.testing.assert_allclose(kernel, truth, atol=0.6)
  # Separable labels: the penalty keeps the weights finite.
  kernel, _ = fit_image_head.fit_logistic(features, (features[:, 0] > 0.5).astype(float), l2=1e-2)
  assert np.all(np.isfinite(kernel)) and kernel[0] > 0
  with pytest.raises(ValueError, match="only one class"):
    fit_image_head.fit_logistic(features, np.ones(4000), l2=1e-3)


def png_record(image, kind):
  """A record as the forgery stream gives it: the file's bytes, mask and kind."""
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format="PNG")
  mask = np.zeros(image.shape[:2], np.uint8)
  return {
    "image": buffer.getvalue(),
    "image_format": "png",
    "mask": mask,
    "manipulation_type": kind,
  }


def test_fitted_head_scores_the_unchanged_network_maps(tmp_path):
  original = inference.Predictor.from_checkpoint(str(CHECKPOINT))
  images = [fixed_image(), np.ascontiguousarray(fixed_image()[::-1, ::-1])]
  records = [png_record(images[0], "splicing"), png_record(images[1], "authentic")]
  statistics, edited = fit_image_head.map_statistics(original, records)
  maps = [original.predict(image).probabilities for image in images]
  np.testing.assert_allclose(statistics, [numpy_statistics(m) for m in maps], rtol=1e-5)
  np.testing.assert_array_equal(edited, [1, 0])

  restored = restore(str(CHECKPOINT))
  kernel, bias = np.array([0.5, -1.0, 2.0, 3.0]), -0.25
  config, variables = fit_image_head.with_image_head(
    restored.config, restored.variables, kernel, bias
  )
  fit_image_head.write_workdir(tmp_path / "head", restored.step, config, variables, {"l2": 0})
  fitted = inference.Predictor.from_checkpoint(str(tmp_path / "head"))
  assert fitted.config.model.image_head == "pooled_detached"
  assert restored.config.model.image_head == "none"  # the source's config is untouched
  for image, expected in zip(images, maps):
    prediction = fitted.predict(image)
    np.testing.assert_array_equal(prediction.probabilities, expected)
    logit = numpy_statistics(expected) @ kernel + bias
    assert prediction.score == pytest.approx(1 / (1 + np.exp(-logit)), rel=1e-5)

"""Shipped models: written by ncl_jax.release, loaded by name with their SHA-256
checked, a decision threshold set at a false-alarm rate; the names' errors."""

import json

import numpy as np
import pytest

from ncl_jax import inference, release
from ncl_jax.serving import pretrained
from tests.test_old_checkpoint import CHECKPOINT, fixed_image


def test_decision_threshold_is_the_lowest_with_at_most_the_rate_of_false_alarms():
  rng = np.random.default_rng(0)
  for count in (1, 19, 20, 75, 101):
    scores = rng.random(count)
    threshold = release.decision_threshold(scores, 0.05)
    assert np.mean(scores > threshold) <= 0.05
    lower = scores[scores < threshold]
    if len(lower):  # any lower threshold among the scores calls more than 5% edited
      assert np.mean(scores > lower.max()) > 0.05
  with pytest.raises(ValueError, match="no untouched image"):
    release.decision_threshold([], 0.05)


def test_version_of_names():
  assert release.version_of("photos-v12") == 12
  with pytest.raises(ValueError, match="must end in -v<number>"):
    release.version_of("photos")


@pytest.fixture(name="models_dir")
def fixture_models_dir(tmp_path, monkeypatch):
  predictor = inference.Predictor.from_checkpoint(str(CHECKPOINT))
  predictor.decision_threshold = 0.25
  for name, version in (("tiny-v1", 1), ("tiny-v2", 2)):
    info = {"name": name, "version": version, "decision_threshold": 0.25, "false_alarm_rate": 0.05}
    release.write_model(tmp_path / name, predictor, info)
  monkeypatch.setattr(pretrained, "MODELS_DIR", tmp_path)
  return tmp_path


def test_released_model_loads_by_name_and_predicts_as_its_checkpoint(models_dir):
  assert pretrained.shipped() == ["tiny-v1", "tiny-v2"]
  expected = inference.Predictor.from_checkpoint(str(CHECKPOINT)).predict(fixed_image())
  predictor = inference.Predictor.from_pretrained()  # the newest
  assert predictor.model_info["name"] == "tiny-v2" and predictor.model_info["version"] == 2
  prediction = predictor.predict(fixed_image())
  np.testing.assert_array_equal(prediction.probabilities, expected.probabilities)
  assert prediction.edited == (prediction.score > 0.25)
  assert expected.edited is None  # a checkpoint has no calibrated threshold
  info = json.loads((models_dir / "tiny-v1/model.json").read_text())
  assert info["sha256"] == pretrained.file_sha256(models_dir / "tiny-v1/variables.msgpack")
  assert (
    json.loads((models_dir / "tiny-v1/export/export.json").read_text())["decision_threshold"]
    == 0.25
  )


def test_damaged_or_unknown_models_are_refused_by_name(models_dir, monkeypatch):
  variables = models_dir / "tiny-v1/variables.msgpack"
  data = bytearray(variables.read_bytes())
  data[-1] ^= 1
  variables.write_bytes(bytes(data))
  with pytest.raises(ValueError, match="tiny-v1/variables.msgpack: SHA-256 .* damaged"):
    inference.Predictor.from_pretrained("tiny-v1")
  with pytest.raises(
    LookupError, match="no shipped model named 'tiny-v3'; shipped: tiny-v1, tiny-v2"
  ):
    inference.Predictor.from_pretrained("tiny-v3")
  monkeypatch.setitem(pretrained.RETIRED, "tiny-v0", "0.9.0")
  with pytest.raises(LookupError, match="'tiny-v0' was last shipped with ncl_jax 0.9.0"):
    inference.Predictor.from_pretrained("tiny-v0")

"""Shipped models: written by ncl_jax.release, loaded by name with their SHA-256
checked, a decision threshold set at a false-alarm rate; the names' errors."""

import json
import shutil

import jax
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


def test_one_or_each_records_a_shared_value_once():
  assert release.one_or_each([2000]) == 2000 and release.one_or_each([2000, 2000]) == 2000
  assert release.one_or_each([1500, 2000]) == [1500, 2000]


def test_version_of_names():
  assert release.version_of("photos-v12") == 12
  with pytest.raises(ValueError, match="must end in -v<number>"):
    release.version_of("photos")


@pytest.fixture(name="models_dir")
def fixture_models_dir(tmp_path, monkeypatch):
  predictor = inference.Predictor.from_checkpoint(str(CHECKPOINT))
  predictor.decision_threshold = 0.25
  for name, version in (("tiny-v1", 1), ("tiny-v2", 2)):
    info = {"name": name, "version": version, "step": 1, "decision_threshold": 0.25}
    info["false_alarm_rate"] = 0.05
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


def test_an_ensemble_averages_its_networks_maps_through_release_and_export(tmp_path, monkeypatch):
  from ncl_jax.serving import export, prediction, restore

  single = restore.restore_runs([str(CHECKPOINT)])
  assert single.members == 1 and single.steps == [1]
  other = jax.tree.map(lambda x: x * 0.9 + 0.01, single.variables)  # a second network
  members = [single.variables, other]
  ensemble = inference.Predictor(
    single.config, prediction.stack_members(members), members=2, views=2
  )
  maps = [
    inference.Predictor(single.config, variables, views=2).predict(fixed_image()).probabilities
    for variables in members
  ]
  probabilities = ensemble.predict(fixed_image()).probabilities
  np.testing.assert_allclose(probabilities, np.mean(maps, axis=0), atol=1e-6)
  assert np.abs(maps[0] - maps[1]).max() > 1e-3  # the two networks do differ

  ensemble.decision_threshold = 0.25
  info = {"name": "tiny-v3", "version": 3, "decision_threshold": 0.25, "members": 2}
  release.write_model(tmp_path / "tiny-v3", ensemble, {**info, "false_alarm_rate": 0.05})
  monkeypatch.setattr(pretrained, "MODELS_DIR", tmp_path)
  loaded = inference.Predictor.from_pretrained("tiny-v3", views=2)
  assert loaded.members == 2
  np.testing.assert_array_equal(loaded.predict(fixed_image()).probabilities, probabilities)
  function, metadata = export.load_exported(tmp_path / "tiny-v3/export")
  assert metadata["members"] == 2
  windows = np.random.default_rng(0).normal(size=metadata["input_shape"]).astype(np.float32)
  np.testing.assert_allclose(function(windows), ensemble._run(windows), atol=1e-6)
  with pytest.raises(ValueError, match="not 3 networks stacked"):
    prediction.predict_probabilities(ensemble.model, ensemble.variables, windows, members=3)


def test_a_shipped_model_joins_the_runs_of_an_ensemble(models_dir):
  from ncl_jax.serving import restore

  run = restore.restore_runs([str(CHECKPOINT)])
  variables = jax.tree.map(lambda x: x * 0.9 + 0.01, run.variables)  # another network
  info = {"name": "tiny-v3", "version": 3, "step": 7, "decision_threshold": 0.25}
  other = inference.Predictor(run.config, variables)
  release.write_model(models_dir / "tiny-v3", other, {**info, "false_alarm_rate": 0.05})
  ensemble = restore.restore_runs([str(CHECKPOINT)], shipped=["tiny-v3"])
  assert ensemble.members == 2 and ensemble.steps == [1, 7]
  trees = (ensemble.variables, run.variables, variables)
  for stacked, first, second in zip(*map(jax.tree.leaves, trees)):
    np.testing.assert_allclose(stacked, np.stack([first, second]), rtol=1e-6)
  assert release.members_record([str(CHECKPOINT)], ["tiny-v3"], ensemble.steps) == [
    {"workdir": str(CHECKPOINT), "step": 1},
    {"shipped": "tiny-v3", "sha256": pretrained.read_info("tiny-v3")["sha256"], "step": 7},
  ]
  info_file = models_dir / "tiny-v3" / pretrained.INFO_FILE
  info_file.write_text(json.dumps({**pretrained.read_info("tiny-v3"), "members": 2}))
  with pytest.raises(ValueError, match="shipped model tiny-v3 is an ensemble of 2 networks"):
    restore.restore_runs([str(CHECKPOINT)], shipped=["tiny-v3"])
  info_file.write_text(json.dumps({**pretrained.read_info("tiny-v3"), "members": 1}))
  config_file = models_dir / "tiny-v3" / pretrained.CONFIG_FILE
  config = json.loads(config_file.read_text())
  config["image_size"] *= 2
  config_file.write_text(json.dumps(config))
  with pytest.raises(ValueError, match="shipped model tiny-v3: its image_size differ"):
    restore.restore_runs([str(CHECKPOINT)], shipped=["tiny-v3"])


def test_runs_served_differently_make_no_ensemble(tmp_path):
  from ncl_jax.serving import restore

  other = tmp_path / "other"
  shutil.copytree(CHECKPOINT, other)
  metadata = other / "checkpoints/1/config/metadata"
  config = json.loads(metadata.read_text())
  config["prediction_views"] = 8 if config["prediction_views"] != 8 else 4
  metadata.write_text(json.dumps(config))
  with pytest.raises(ValueError, match=f"{other}: its prediction_views differ"):
    restore.restore_runs([str(CHECKPOINT), str(other)])


def test_a_runs_checkpoints_averaged_are_their_parameters_mean(tmp_path):
  import orbax.checkpoint as ocp

  from ncl_jax.serving import restore

  run = tmp_path / "run"
  shutil.copytree(CHECKPOINT, run)
  state = ocp.PyTreeCheckpointer().restore((run / "checkpoints/1/state").resolve())
  later = jax.tree.map(lambda x: x * 0.5 + 0.25 if x.dtype.kind == "f" else x, state)
  ocp.PyTreeCheckpointer().save((run / "checkpoints/3/state").resolve(), later)
  shutil.copytree(run / "checkpoints/1/config", run / "checkpoints/3/config")

  first, last = (restore.restore(run, step).variables for step in (1, 3))
  averaged = restore.restore_runs([str(run)], average_steps=[3, 1])  # restore_average
  assert averaged.steps == [3] and averaged.members == 1
  assert len(jax.tree.leaves(averaged.variables)) == len(jax.tree.leaves(first)) > 10
  for a, b, mean in zip(*map(jax.tree.leaves, (first, last, averaged.variables))):
    np.testing.assert_allclose(mean, (np.asarray(a) + np.asarray(b)) / 2, rtol=1e-6, atol=1e-7)
  with pytest.raises(ValueError, match="either one checkpoint"):
    restore.restore_runs([str(run)], step=3, average_steps=[1, 3])
  with pytest.raises(FileNotFoundError):
    restore.restore_average(run, [1, 2])

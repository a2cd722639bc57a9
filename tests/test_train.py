"""End-to-end training on the tiny synthetic dataset: outputs, resume, CLI, config errors."""

import copy
import json
import os

import jax
import ml_collections
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ncl_jax.config_schema import ConfigError, validate_config
from ncl_jax.serving.restore import read_config
from ncl_jax.training import checkpointing, train
from ncl_jax.training.state import StateFactory
from tests.conftest import (
  device_env,
  run_module,
  start_module,
  tiny_config,
  tiny_config_file,
)

EVAL_KEYS = (
  "pixel_f1",
  "pixel_f1_best",
  "pixel_iou",
  "pixel_auc",
  "pixel_auc_pooled",
  "image_auc",
  "image_accuracy",
  "image_f1",
  "num_images",
  "num_manipulated",
)


def final_state(config, workdir, step=None):
  checkpointer = checkpointing.Checkpointer(workdir, read_only=True)
  step = checkpointer.latest_step() if step is None else step
  sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  return checkpointer.restore(step, StateFactory(config).abstract_state(sharding))


def test_train_and_evaluate_writes_metrics_checkpoints_and_eval_json(tmp_path, tiny_data_dir):
  workdir = tmp_path / "run"
  config = tiny_config(tiny_data_dir)
  results = train.train_and_evaluate(config, str(workdir))
  assert list(results) == ["ncl_synthetic-test"]
  result = results["ncl_synthetic-test"]
  with open(workdir / "eval" / "ncl_synthetic-test.json") as file:
    written = json.load(file)
  for key in EVAL_KEYS:
    assert key in written and key in result
  assert written["num_images"] == 6
  assert 0.0 <= written["pixel_auc"] <= 1.0
  records = [json.loads(line) for line in open(workdir / "metrics.jsonl")]
  train_records = [r for r in records if r["split"] == "train"]
  assert [r["step"] for r in train_records] == [2, 4]
  for name in (
    "loss",
    "ncl_total",
    "ncl_tampered",
    "ncl_hard_positive",
    "ncl_hard_negative",
    "pc_final",
    "pc_stride16",
    "pc_stride4",
    "pc_total",
    "learning_rate",
  ):
    assert np.isfinite(train_records[0][name]), name
  assert train_records[0]["loss"] == pytest.approx(
    0.1 * train_records[0]["ncl_total"] + train_records[0]["pc_total"], rel=1e-5
  )
  assert any(r["split"] == "validation" and r["step"] == 4 for r in records)
  # TensorBoard's own reader sees the logged scalars and the validation pictures.
  events = EventAccumulator(str(workdir / "tensorboard"), size_guidance={"images": 0}).Reload()
  losses = events.Scalars("train/loss")
  assert [e.step for e in losses] == [2, 4]
  np.testing.assert_allclose([e.value for e in losses], [r["loss"] for r in train_records], 1e-6)
  picture = events.Images("validation_examples/0")[0]
  assert picture.step == 4 and (picture.height, picture.width) == (64, 5 * 64)
  saved = read_config(str(workdir))
  assert saved.model.width == config.model.width
  # every checkpoint step directory carries the config too
  assert read_config(str(workdir / "checkpoints" / "4")).image_size == 64
  assert sorted(int(s) for s in os.listdir(workdir / "checkpoints") if s.isdigit()) == [2, 4]


def test_runs_that_differ_only_in_what_the_host_reads_share_compiled_functions(tmp_path):
  config = tiny_config(tmp_path)
  runtime = train.runtime_for(config)
  elsewhere = tiny_config(tmp_path / "other", seed=3, eval_every_steps=7, log_every_steps=1)
  assert train.runtime_for(elsewhere) is runtime
  config.pc.mu = 0.25  # the objective changes: compiled anew, the first run's stays as it was
  changed = train.runtime_for(config)
  assert changed is not runtime and changed.factory.config.pc.mu == 0.25
  assert runtime.factory.config.pc.mu != 0.25
  assert train.runtime_for(tiny_config(tmp_path, **{"model.dtype": "bfloat16"})) is not runtime


def wrap_train_steps(monkeypatch, wrap):
  """Runs started until `monkeypatch.undo()` train with `wrap(train_step)` in place of
  their compiled step, which is the one an uninterrupted run uses."""
  runtime_for = train.runtime_for

  def wrapped_runtime(config):
    runtime = copy.copy(runtime_for(config))
    runtime.train_step = wrap(runtime.train_step)
    return runtime

  monkeypatch.setattr(train, "runtime_for", wrapped_runtime)


def crash_on_the_third_step(monkeypatch):
  """Runs started until `monkeypatch.undo()` fail on their third training step, like
  a crash mid-run."""

  def crashing(step_fn):
    calls = []

    def crash_on_third(state, batch):
      calls.append(1)
      if len(calls) == 3:
        raise RuntimeError("simulated crash")
      return step_fn(state, batch)

    return crash_on_third

  wrap_train_steps(monkeypatch, crashing)


def test_the_loop_queues_at_most_two_steps(tmp_path, tiny_data_dir, monkeypatch):
  """Before it queues a step, the loop waits for the one two before it, so a stop
  signal, a log or a save never waits for more than the step running and the next."""
  events, queued = [], []
  block_until_ready = jax.block_until_ready

  def recording(step_fn):
    def train_step(state, batch):
      state, metrics = step_fn(state, batch)
      queued.append(metrics)
      events.append(f"queued {len(queued)}")
      return state, metrics

    return train_step

  def recording_block(tree):
    events.extend(f"waited {i + 1}" for i, metrics in enumerate(queued) if tree is metrics)
    return block_until_ready(tree)

  wrap_train_steps(monkeypatch, recording)
  monkeypatch.setattr(jax, "block_until_ready", recording_block)
  train.train_and_evaluate(tiny_config(tiny_data_dir), str(tmp_path / "run"))
  assert events == [
    "queued 1",
    "queued 2",
    "waited 1",
    "queued 3",
    "waited 2",
    "queued 4",
    "waited 3",
  ]


def photo_forgeries_config(**overrides):
  """The tiny config on forgeries synthesized on the fly from the bundled photos."""
  config = tiny_config(
    "/nonexistent",
    **{
      "dataset.name": "photo_forgeries",
      "dataset.manual_dir": "",
      "dataset.test_split": "",
      **overrides,
    },
  )
  with config.unlocked():
    config.dataset.options = {"num_validation": 6, "seed": 0}
    config.dataset.synthesis = {"camera_long_side": (80, 160)}
  return config


def test_restart_resumes_from_last_checkpoint_exactly(tmp_path, monkeypatch):
  """On photos synthesized as they are read (the random state of the synthesis is
  part of the checkpoint). The straight run also validates after every step, so
  validating leaves training untouched (runs validated at different intervals are
  compared in docs/recipe.md). The TFDS builders' restart: tests/test_gcs.py."""
  config = photo_forgeries_config(eval_every_steps=100)
  straight = tmp_path / "straight"
  train.train_and_evaluate(photo_forgeries_config(eval_every_steps=1), str(straight))

  interrupted = tmp_path / "interrupted"
  crash_on_the_third_step(monkeypatch)
  with pytest.raises(RuntimeError, match="simulated crash"):
    train.train_and_evaluate(config, str(interrupted))
  monkeypatch.undo()
  assert checkpointing.Checkpointer(str(interrupted), read_only=True).latest_step() == 2
  train.train_and_evaluate(config, str(interrupted))

  steps = [
    json.loads(line)["step"] for line in open(interrupted / "metrics.jsonl") if '"train"' in line
  ]
  assert steps == [2, 4]  # step 2 before the crash; the restart begins at 3, not 1
  a, b = final_state(config, str(straight)), final_state(config, str(interrupted))
  assert int(a.step) == int(b.step) == 4
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_cli_eval_mode_evaluates_a_trained_workdir(tmp_path, tiny_data_dir):
  """`--mode=eval` (training through the CLI: tests/test_fault_tolerance.py)."""
  config_file = tiny_config_file(tmp_path, tiny_data_dir)
  workdir = tmp_path / "cli"
  train.train_and_evaluate(tiny_config(tiny_data_dir), str(workdir))
  os.remove(workdir / "eval" / "ncl_synthetic-test.json")
  run = run_module(
    "ncl_jax.main",
    f"--config={config_file}",
    f"--workdir={workdir}",
    "--mode=eval",
    "--split=validation",
  )
  assert run.returncode == 0, run.stderr[-3000:]
  result = json.load(open(workdir / "eval" / "ncl_synthetic-validation.json"))
  assert result["checkpoint_step"] == 4 and result["num_images"] == 6
  assert "pixel_f1=" in run.stdout


@pytest.mark.parametrize(
  "key,value,message",
  [
    ("image_size", 72, "image_size=72 is not a multiple of patch_size=16"),
    ("patch_size", 6, "patch_size=6 must be a positive multiple of 4"),
    ("batch_size", 6, "batch_size=6 must be a positive multiple of the 4 devices"),
    ("ncl.contour_role", "both", "ncl.contour_role='both'"),
    ("dataset.name", "casia3", "dataset.name='casia3' is unknown"),
    ("model.depth", 152, "model.depth=152"),
    ("model.output_stride", 32, "model.output_stride=32"),
    ("pc.mu", 1.5, "pc.mu=1.5"),
    ("pc.dice_weight", -1.0, "pc.dice_weight=-1.0 must be >= 0"),
    ("image_score_quantile", 0.0, "image_score_quantile=0.0 must be in (0, 1]"),
    ("prediction_views", 3, "prediction_views=3 must be one of (1, 2, 4, 8)"),
  ],
)
def test_bad_config_is_named(tmp_path, key, value, message):
  config = tiny_config(tmp_path, **{key: value})
  with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
    validate_config(config, num_devices=4)


def test_non_bool_augmentation_switch_is_named(tmp_path):
  config = tiny_config(tmp_path)  # a config read from JSON can hold any type
  config.input = ml_collections.ConfigDict({**config.input.to_dict(), "random_rotate": "yes"})
  with pytest.raises(ConfigError, match="input.random_rotate='yes' must be True or False"):
    validate_config(config, num_devices=4)


def test_bad_config_fails_before_building_data(tmp_path):
  config = tiny_config(tmp_path / "never_built", image_size=72)
  with pytest.raises(ConfigError):
    train.train_and_evaluate(config, str(tmp_path / "w"))
  assert not (tmp_path / "never_built").exists()


@pytest.mark.slow
def test_four_devices_match_one_device(tmp_path):
  """The same global batches (forgeries synthesized on the fly) on a 4-device mesh and
  on 1 device: same losses, parameters and evaluation."""
  # Both start at once: start-up and compilation are mostly single-threaded.
  runs = [start_module("tests.programs.train_steps", env=device_env(devices)) for devices in (1, 4)]
  outputs = []
  for run in runs:
    stdout, stderr = run.communicate(timeout=600)
    assert run.returncode == 0, stderr[-3000:]
    outputs.append(json.loads(stdout.strip().splitlines()[-1]))
  one, four = outputs
  assert (one["devices"], four["devices"]) == (1, 4)
  np.testing.assert_allclose(four["losses"], one["losses"], rtol=1e-5)
  np.testing.assert_allclose(four["checksum"], one["checksum"], rtol=1e-5)
  # evaluation in batches of 6 on 4 devices: padded, every image scored once
  assert four["num_images"] == one["num_images"] == 7
  for key, value in one["evaluation"].items():
    np.testing.assert_allclose(four["evaluation"][key], value, rtol=1e-4, atol=1e-6, err_msg=key)

"""Preemption, crash safety, numerical faults and bad data, with real subprocesses
and real signals where the behaviour depends on them."""

import json
import os
import signal
import time

import jax
import numpy as np
import pytest

from ncl_jax.input import imaging
from ncl_jax.training import checkpointing, preemption, train
from tests.conftest import repo_env, start_main, tiny_config, tiny_config_file

# A run that trains until stopped, logging every step and saving only when told to.
ENDLESS_RUN = dict(
  num_train_steps=100_000, log_every_steps=1, checkpoint_every_steps=10_000, eval_every_steps=10_000
)


def start_training(config_file, workdir, *flags):
  env = dict(repo_env(), PYTHONUNBUFFERED="1")
  return start_main(config_file, workdir, *flags, env=env)


def wait_for_train_step(workdir, min_step, process, timeout=300):
  deadline = time.time() + timeout
  path = os.path.join(workdir, "metrics.jsonl")
  while time.time() < deadline:
    if process.poll() is not None:
      raise AssertionError(f"training ended early: {process.communicate()[1][-3000:]}")
    if os.path.exists(path):
      steps = [json.loads(line)["step"] for line in open(path) if '"train"' in line]
      if steps and steps[-1] >= min_step:
        return steps[-1]
    time.sleep(0.05)
  raise AssertionError("training did not reach the step in time")


def stopped_step(stderr, signum=signal.SIGTERM) -> int:
  """The step a run stopped by `signum` says it committed."""
  name = signal.Signals(signum).name
  assert f"stopped by {name} after step" in stderr, stderr[-3000:]
  return int(stderr.split(f"stopped by {name} after step ")[1].split(";")[0])


@pytest.mark.slow
@pytest.mark.parametrize("signum,exit_code", [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_signal_finishes_step_checkpoints_and_exits(tmp_path, tiny_data_dir, signum, exit_code):
  config_file = tiny_config_file(
    tmp_path,
    tiny_data_dir,
    **ENDLESS_RUN,
  )
  workdir = str(tmp_path / "run")
  process = start_training(config_file, workdir)
  wait_for_train_step(workdir, 3, process)
  process.send_signal(signum)
  _, stderr = process.communicate(timeout=300)
  assert process.returncode == exit_code, stderr[-3000:]
  stopped_at = stopped_step(stderr, signum)
  assert stopped_at >= 3
  assert checkpointing.Checkpointer(workdir, read_only=True).latest_step() == stopped_at
  # The same command resuming a stopped run: tests/test_multihost.py.


def test_second_signal_stops_at_once(monkeypatch):
  kills = []
  monkeypatch.setattr(preemption.os, "kill", lambda pid, signum: kills.append((pid, signum)))
  with preemption.PreemptionHandler() as handler:
    assert signal.getsignal(signal.SIGTERM) == handler.handle
    handler.handle(signal.SIGTERM, None)
    assert handler.requested and not kills
    handler.handle(signal.SIGTERM, None)
    assert kills == [(os.getpid(), signal.SIGTERM)]
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
  assert signal.getsignal(signal.SIGTERM) != handler.handle


@pytest.mark.slow
def test_sigkill_during_a_save_keeps_the_previous_checkpoint(tmp_path, tiny_data_dir):
  config_file = tiny_config_file(
    tmp_path,
    tiny_data_dir,
    num_train_steps=100_000,
    log_every_steps=1,
    checkpoint_every_steps=1,
    eval_every_steps=10_000,
    keep_checkpoints=100_000,
  )
  workdir = str(tmp_path / "run")
  checkpoints = os.path.join(workdir, "checkpoints")
  process = start_training(config_file, workdir)
  wait_for_train_step(workdir, 2, process)
  deadline, in_flight = time.time() + 120, None
  while time.time() < deadline and in_flight is None:
    names = os.listdir(checkpoints)
    if any(name.isdigit() for name in names):  # a committed one exists: kill mid-save
      in_flight = next((name for name in names if "tmp" in name), None)
    if in_flight is None:
      time.sleep(0.002)
  process.kill()
  process.communicate()
  assert in_flight is not None, "never saw a checkpoint being written"
  committed = checkpointing.Checkpointer(workdir, read_only=True).latest_step()
  assert committed is not None and committed < int(in_flight.split(".")[0])
  process = start_training(config_file, workdir, f"--config.num_train_steps={committed + 1}")
  _, stderr = process.communicate(timeout=300)
  assert process.returncode == 0, stderr[-3000:]
  assert f"Resumed from step {committed}" in stderr


def test_corrupt_checkpoint_is_reported_and_skipped(tmp_path, tiny_data_dir, capsys):
  config = tiny_config(tiny_data_dir, eval_every_steps=100)
  workdir = tmp_path / "run"
  train.train_and_evaluate(config, str(workdir))
  for root, _, files in os.walk(workdir / "checkpoints" / "4" / "state"):
    for name in files:
      with open(os.path.join(root, name), "wb") as file:
        file.write(b"garbage")
  config.num_train_steps = 6
  train.train_and_evaluate(config, str(workdir))
  err = capsys.readouterr().err
  assert "checkpoint 4" in err and "incomplete or corrupt" in err
  assert any(name.startswith("4-") for name in os.listdir(workdir / "checkpoints_corrupt"))
  steps = [
    json.loads(line)["step"] for line in open(workdir / "metrics.jsonl") if '"train"' in line
  ]
  assert steps == [2, 4, 4, 6]  # steps 3-4 trained again from checkpoint 2, then 5-6


@pytest.fixture
def nan_batches(monkeypatch):
  """The third training batch of a run gets a NaN pixel on its way to the devices."""
  device_batch = train.Runtime.device_batch
  calls = []

  def poisoned(self, batch):
    calls.append(1)
    # uint8 pixels hold no NaN: every batch goes normalized, as floats (so the step
    # compiles once), and the third gets the NaN.
    batch["image"] = np.stack([imaging.normalize(image) for image in batch["image"]])
    if len(calls) == 3:
      batch["image"][0, 0, 0, 0] = np.nan
    return device_batch(self, batch)

  monkeypatch.setattr(train.Runtime, "device_batch", poisoned)


def test_nan_stops_naming_the_step_and_saves_nothing_of_it(tmp_path, tiny_data_dir, nan_batches):
  config = tiny_config(tiny_data_dir, eval_every_steps=100, num_train_steps=6)
  with pytest.raises(FloatingPointError, match=r"at step 3: .*loss=nan.*pc_final="):
    train.train_and_evaluate(config, str(tmp_path / "run"))
  checkpointer = checkpointing.Checkpointer(str(tmp_path / "run"), read_only=True)
  assert checkpointer.manager.all_steps() == [2]


def test_nan_policy_skip_counts_and_continues(tmp_path, tiny_data_dir, nan_batches):
  config = tiny_config(tiny_data_dir, eval_every_steps=100, num_train_steps=4, nan_policy="skip")
  train.train_and_evaluate(config, str(tmp_path / "run"))
  records = [
    json.loads(line) for line in open(tmp_path / "run" / "metrics.jsonl") if '"train"' in line
  ]
  assert [r["nonfinite"] for r in records] == [0.0, 1.0]
  from tests.test_train import final_state

  state = final_state(config, str(tmp_path / "run"))
  assert int(state.skipped_steps) == 1 and int(state.step) == 4
  assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(state.params))

"""Two processes on this machine (jax.distributed over 127.0.0.1, CPU backend)
train a few steps and agree with one process holding as many devices."""

import json
import os
import signal
import socket

import jax
import numpy as np
import pytest

from ncl_jax.training import checkpointing
from tests.conftest import device_env, start_main, tiny_config, tiny_config_file
from tests.test_train import final_state

pytestmark = pytest.mark.slow


def free_port():
  with socket.socket() as sock:
    sock.bind(("127.0.0.1", 0))
    return sock.getsockname()[1]


def launch(config_file, workdir, devices, *flags):
  return start_main(config_file, workdir, *flags, env=device_env(devices))


def train_losses(workdir):
  return [
    r["loss"]
    for r in map(json.loads, open(os.path.join(workdir, "metrics.jsonl")))
    if r["split"] == "train"
  ]


def test_two_processes_agree_with_one(tmp_path, tiny_data_dir):
  overrides = dict(num_train_steps=4, log_every_steps=1, checkpoint_every_steps=2)
  config_file = tiny_config_file(tmp_path, tiny_data_dir, **overrides)
  # The reference run and the pair start together: start-up and compilation are
  # mostly single-threaded, so the three share the cores well.
  single = launch(config_file, tmp_path / "one", 2)
  port = free_port()
  processes = [
    launch(
      config_file,
      tmp_path / "two",
      1,
      "--config.distributed.initialize=yes",
      f"--config.distributed.coordinator_address=127.0.0.1:{port}",
      "--config.distributed.num_processes=2",
      f"--config.distributed.process_id={index}",
    )
    for index in range(2)
  ]
  for process in [single, *processes]:
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]
  np.testing.assert_allclose(
    train_losses(tmp_path / "two"), train_losses(tmp_path / "one"), rtol=1e-5
  )
  config = tiny_config(tiny_data_dir, **overrides)
  a, b = final_state(config, str(tmp_path / "one")), final_state(config, str(tmp_path / "two"))
  for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-4, atol=1e-6)
  one = json.load(open(tmp_path / "one" / "eval" / "ncl_synthetic-test.json"))
  two = json.load(open(tmp_path / "two" / "eval" / "ncl_synthetic-test.json"))
  assert two["num_images"] == one["num_images"] == 6
  assert abs(two["pixel_auc"] - one["pixel_auc"]) < 1e-4
  # one set of checkpoints, with each process's input-pipeline state
  assert checkpointing.Checkpointer(str(tmp_path / "two"), read_only=True).manager.all_steps() == [
    2,
    4,
  ]
  assert sorted(os.listdir(tmp_path / "two" / "checkpoints" / "4" / "data")) == [
    "commit_success.txt",
    "process_0-of-2.json",
    "process_1-of-2.json",
  ]


def test_preempting_one_process_stops_both_at_one_committed_step(tmp_path, tiny_data_dir):
  """SIGTERM to process 1 only: the two agree on a step, write one checkpoint of
  it together, exit 0, and the same command resumes both from it."""
  from tests.test_fault_tolerance import ENDLESS_RUN, wait_for_train_step

  config_file = tiny_config_file(
    tmp_path,
    tiny_data_dir,
    **ENDLESS_RUN,
  )
  workdir = tmp_path / "two"

  def launch_pair(*flags):
    port = free_port()
    return [
      launch(
        config_file,
        workdir,
        1,
        "--config.distributed.initialize=yes",
        f"--config.distributed.coordinator_address=127.0.0.1:{port}",
        "--config.distributed.num_processes=2",
        f"--config.distributed.process_id={index}",
        *flags,
      )
      for index in range(2)
    ]

  processes = launch_pair()
  wait_for_train_step(str(workdir), 2, processes[0])
  processes[1].send_signal(signal.SIGTERM)
  stderrs = [process.communicate(timeout=300)[1] for process in processes]
  assert [p.returncode for p in processes] == [0, 0], stderrs[0][-2000:] + stderrs[1][-2000:]
  stopped = {int(e.split("stopped by SIGTERM after step ")[1].split(";")[0]) for e in stderrs}
  assert len(stopped) == 1, stopped  # the same step in both processes
  stopped_at = stopped.pop()
  assert checkpointing.Checkpointer(str(workdir), read_only=True).manager.all_steps() == [
    stopped_at
  ]
  assert sorted(os.listdir(workdir / "checkpoints" / str(stopped_at) / "data")) == [
    "commit_success.txt",
    "process_0-of-2.json",
    "process_1-of-2.json",
  ]

  processes = launch_pair(f"--config.num_train_steps={stopped_at + 1}")
  stderrs = [process.communicate(timeout=300)[1] for process in processes]
  assert [p.returncode for p in processes] == [0, 0], stderrs[0][-2000:] + stderrs[1][-2000:]
  assert all(f"Resumed from step {stopped_at}" in e for e in stderrs)
  steps = [
    r["step"] for r in map(json.loads, open(workdir / "metrics.jsonl")) if r["split"] == "train"
  ]
  assert steps[-2:] == [stopped_at, stopped_at + 1]

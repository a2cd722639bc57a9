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
  """{step: loss} of the training records (a resumed run's records after its own)."""
  return {
    r["step"]: r["loss"]
    for r in map(json.loads, open(os.path.join(workdir, "metrics.jsonl")))
    if r["split"] == "train"
  }


def test_two_processes_stop_together_resume_and_agree_with_one(tmp_path, tiny_data_dir):
  """SIGTERM to process 1 only: the two agree on a step, write one checkpoint of it
  together and exit 0; the same command resumes both, and what they trained equals
  one process holding as many devices, trained without a stop. (Every step here is
  in the learning-rate warm-up, so the endless and the finite run share a schedule.)"""
  from tests.test_fault_tolerance import ENDLESS_RUN, stopped_step, wait_for_train_step

  config_file = tiny_config_file(tmp_path, tiny_data_dir, **ENDLESS_RUN)
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

  def finish(processes):
    stderrs = [process.communicate(timeout=600)[1] for process in processes]
    assert [p.returncode for p in processes] == [0] * len(processes), "\n".join(
      e[-2000:] for e in stderrs
    )
    return stderrs

  processes = launch_pair()
  wait_for_train_step(str(workdir), 2, processes[0])
  processes[1].send_signal(signal.SIGTERM)
  stopped = {stopped_step(e) for e in finish(processes)}
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

  end = f"--config.num_train_steps={stopped_at + 2}"
  # The reference starts with the resumed pair: start-up and compilation are mostly
  # single-threaded, so the three share the cores well.
  single = launch(config_file, tmp_path / "one", 2, end)
  stderrs = finish([*launch_pair(end), single])
  assert all(f"Resumed from step {stopped_at}" in e for e in stderrs[:2])
  assert checkpointing.Checkpointer(str(workdir), read_only=True).manager.all_steps() == [
    stopped_at,
    stopped_at + 2,
  ]
  two, one = train_losses(workdir), train_losses(tmp_path / "one")
  assert sorted(two) == sorted(one) == list(range(1, stopped_at + 3))
  np.testing.assert_allclose(
    [two[s] for s in sorted(one)], [one[s] for s in sorted(one)], rtol=1e-5
  )
  config = tiny_config(tiny_data_dir, **ENDLESS_RUN)
  a, b = final_state(config, str(tmp_path / "one")), final_state(config, str(workdir))
  for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
    # Adam divides each gradient by its own scale, so summing in another order moves
    # a parameter whose gradient is almost zero by a small part of a step.
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-4, atol=3e-5)
  one = json.load(open(tmp_path / "one" / "eval" / "ncl_synthetic-test.json"))
  two = json.load(open(workdir / "eval" / "ncl_synthetic-test.json"))
  assert two["num_images"] == one["num_images"] == 6
  assert abs(two["pixel_auc"] - one["pixel_auc"]) < 1e-4

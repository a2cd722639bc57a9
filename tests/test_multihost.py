"""Two processes on this machine (jax.distributed over 127.0.0.1, CPU backend)
train a few steps and agree with one process holding as many devices."""
import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np

from ncl_jax import checkpointing
from tests.conftest import REPO_ROOT, tiny_config, tiny_config_file
from tests.test_train import final_state


def free_port():
  with socket.socket() as sock:
    sock.bind(("127.0.0.1", 0))
    return sock.getsockname()[1]


def launch(config_file, workdir, devices, *flags):
  env = dict(os.environ, PYTHONPATH=REPO_ROOT,
             XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
  return subprocess.Popen([sys.executable, "-m", "ncl_jax.main", f"--config={config_file}",
                           f"--workdir={workdir}", *flags], cwd=REPO_ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def train_losses(workdir):
  return [r["loss"] for r in map(json.loads, open(os.path.join(workdir, "metrics.jsonl")))
          if r["split"] == "train"]


def test_two_processes_agree_with_one(tmp_path, tiny_data_dir):
  overrides = dict(num_train_steps=4, log_every_steps=1, checkpoint_every_steps=2)
  config_file = tiny_config_file(tmp_path, tiny_data_dir, **overrides)
  single = launch(config_file, tmp_path / "one", 2)
  _, stderr = single.communicate(timeout=600)
  assert single.returncode == 0, stderr[-3000:]
  port = free_port()
  processes = [launch(config_file, tmp_path / "two", 1, "--config.distributed.initialize=yes",
                      f"--config.distributed.coordinator_address=127.0.0.1:{port}",
                      "--config.distributed.num_processes=2",
                      f"--config.distributed.process_id={index}") for index in range(2)]
  for process in processes:
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]
  np.testing.assert_allclose(train_losses(tmp_path / "two"), train_losses(tmp_path / "one"),
                             rtol=1e-5)
  config = tiny_config(tiny_data_dir, **overrides)
  a, b = final_state(config, str(tmp_path / "one")), final_state(config, str(tmp_path / "two"))
  for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-4, atol=1e-6)
  one = json.load(open(tmp_path / "one" / "eval" / "ncl_synthetic-test.json"))
  two = json.load(open(tmp_path / "two" / "eval" / "ncl_synthetic-test.json"))
  assert two["num_images"] == one["num_images"] == 6
  assert abs(two["pixel_auc"] - one["pixel_auc"]) < 1e-4
  # one set of checkpoints, with each process's input-pipeline state
  assert checkpointing.Checkpointer(str(tmp_path / "two"), read_only=True).manager.all_steps() \
      == [2, 4]
  assert sorted(os.listdir(tmp_path / "two" / "checkpoints" / "4" / "data")) == [
      "commit_success.txt", "process_0-of-2.json", "process_1-of-2.json"]

"""The sharded contrastive loss (shard_map + all_gather) equals the single-device
loss, value and gradients, on 4 CPU devices."""

import json

import numpy as np

from tests.conftest import device_env, run_module


def test_sharded_loss_and_gradients_equal_single_device():
  run = run_module("tests.programs.sharded_loss", env=device_env(4))
  assert run.returncode == 0, run.stderr[-3000:]
  results = json.loads(run.stdout.strip().splitlines()[-1])
  for role, result in results.items():
    single, sharded = result["terms"]
    for key in single:
      np.testing.assert_allclose(
        sharded[key], single[key], rtol=1e-5, atol=1e-6, err_msg=f"{role} {key}"
      )
    assert single["total"] > 0
    assert result["grad_scale"] > 0 and result["grad_diff"] < 1e-5, (role, result)

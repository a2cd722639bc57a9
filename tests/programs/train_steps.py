"""Two training steps of the tiny config on fixed batches, on however many devices
XLA_FLAGS gives this process; prints the losses and a parameter checksum as JSON.

  XLA_FLAGS=--xla_force_host_platform_device_count=4 python -m tests.programs.train_steps
"""
import json

import jax
import numpy as np

from tests.conftest import make_runtime, tiny_config


def main():
  config = tiny_config("/nonexistent")
  runtime, state = make_runtime(config)
  rng = np.random.default_rng(0)
  losses = []
  for _ in range(2):
    mask = np.zeros((4, 64, 64), np.uint8)
    for b in range(4):
      y, x = rng.integers(0, 40, 2)
      mask[b, y:y + 20, x:x + 24] = b % 2 == 0 or b == 1
    image = rng.normal(size=(4, 64, 64, 3)).astype(np.float32)
    state, metrics = runtime.train_step(
        state, {"image": runtime.mesh.shard(image), "mask": runtime.mesh.shard(mask)})
    losses.append(float(metrics["loss"]))
  leaves = [np.asarray(x, np.float64) for x in jax.tree.leaves(state.params)]
  print(json.dumps({"devices": jax.device_count(), "losses": losses,
                    "checksum": sum(float(np.abs(x).sum()) for x in leaves)}))


if __name__ == "__main__":
  main()

"""Two training steps of the tiny config on batches of forgeries synthesized from
the bundled photos, then an evaluation with a batch size that is no multiple of
the devices, on however many devices XLA_FLAGS gives this process; prints the
losses, a parameter checksum and the metrics as JSON.

  XLA_FLAGS=--xla_force_host_platform_device_count=4 python -m tests.programs.train_steps
"""

import json

import jax
import numpy as np

from ncl_jax import data
from ncl_jax.evaluation.loop import evaluate
from ncl_jax.input import input_pipeline
from tests.conftest import make_runtime, tiny_config


def main():
  config = tiny_config(
    "/nonexistent",
    **{"dataset.name": "photo_forgeries", "dataset.manual_dir": "", "eval_batch_size": 6},
  )
  with config.unlocked():
    config.dataset.options = {"num_validation": 7, "seed": 0}
    config.dataset.synthesis = {"camera_long_side": (80, 160)}
  forgeries = data.get_builder(config.dataset)
  batches = iter(input_pipeline.create_train_dataset(forgeries.as_data_source("train"), config))
  runtime, state = make_runtime(config)
  losses = []
  for _ in range(2):
    batch = next(batches)
    state, metrics = runtime.train_step(
      state,
      {"image": runtime.mesh.shard(batch["image"]), "mask": runtime.mesh.shard(batch["mask"])},
    )
    losses.append(float(metrics["loss"]))
  leaves = [np.asarray(x, np.float64) for x in jax.tree.leaves(state.params)]
  result = evaluate(
    runtime.predict, runtime.mesh, state.variables, forgeries.as_data_source("validation"), config
  ).metrics
  print(
    json.dumps(
      {
        "devices": jax.device_count(),
        "losses": losses,
        "checksum": sum(float(np.abs(x).sum()) for x in leaves),
        "evaluation": {k: v for k, v in result.items() if isinstance(v, float)},
        "num_images": result["num_images"],
      }
    )
  )


if __name__ == "__main__":
  main()

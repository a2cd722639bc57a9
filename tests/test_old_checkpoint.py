"""A checkpoint written before the package was restructured still restores and
predicts the same.

`tests/golden/checkpoint/` is a workdir with one checkpoint of the tiny synthetic
network of `tests/golden/config.json`, written by `Checkpointer.save` as training
writes it (train state with the optimizer's, and the config). Its parameters and
BatchNorm statistics are random values on a coarse grid (multiples of 1/8), which
keeps the files small; `checkpoint_predictions.json` holds what the code of that
time predicted with it on a fixed image.
"""

import json
import pathlib

import numpy as np

from ncl_jax import inference

GOLDEN = pathlib.Path(__file__).parent / "golden"
CHECKPOINT = GOLDEN / "checkpoint"
EXPECTED = GOLDEN / "checkpoint_predictions.json"


def fixed_image() -> np.ndarray:
  """uint8 [40, 56, 3]: smooth gradients with a noisy square (not the model's size,
  so the prediction is resized back)."""
  rng = np.random.default_rng(5)
  rows, cols = np.mgrid[0:40, 0:56]
  image = np.stack([rows * 6, cols * 4, (rows + cols) * 2], axis=-1).astype(np.float64)
  image[10:30, 20:44] += rng.normal(0, 40, (20, 24, 3))
  return np.clip(image, 0, 255).astype(np.uint8)


def predictions() -> dict:
  """The checkpoint's probabilities [40, 56] and image score on fixed_image."""
  prediction = inference.Predictor.from_checkpoint(str(CHECKPOINT)).predict(fixed_image())
  return {
    "probabilities": np.round(prediction.probabilities.astype(np.float64), 7).tolist(),
    "score": round(float(prediction.score), 7),
  }


def test_old_checkpoint_restores_and_predicts_the_same():
  expected = json.loads(EXPECTED.read_text())
  got = predictions()
  np.testing.assert_allclose(got["probabilities"], expected["probabilities"], atol=2e-6)
  np.testing.assert_allclose(got["score"], expected["score"], atol=2e-6)
  # The recording is not degenerate: the map varies over the image.
  assert np.ptp(np.asarray(expected["probabilities"])) > 1e-3


def write_checkpoint():
  """The checkpoint as the code of its time wrote it (run once, before the moves)."""
  import jax  # noqa: PLC0415
  import jax.numpy as jnp  # noqa: PLC0415

  from ncl_jax.serving.restore import read_config  # noqa: PLC0415
  from ncl_jax.training import checkpointing  # noqa: PLC0415
  from ncl_jax.training.state import StateFactory  # noqa: PLC0415

  config = read_config(str(GOLDEN))
  state = StateFactory(config).create(jax.random.PRNGKey(0))
  rng = np.random.default_rng(0)

  def on_grid(values):
    return jnp.round(values * 8) / 8

  def random_statistics(path, value):
    if path[-1].key == "var":
      return on_grid(jnp.asarray(rng.uniform(0.5, 2.0, value.shape), jnp.float32))
    return on_grid(jnp.asarray(rng.normal(0, 0.5, value.shape), jnp.float32))

  state = state.replace(
    params=jax.tree.map(on_grid, state.params),
    batch_stats=jax.tree_util.tree_map_with_path(random_statistics, state.batch_stats),
  )
  checkpointer = checkpointing.Checkpointer(str(CHECKPOINT))
  checkpointer.save(1, state, config, force=True)
  checkpointer.wait()
  checkpointer.close()


if __name__ == "__main__":  # python -m tests.test_old_checkpoint: record (once)
  import tests.conftest  # noqa: F401  (sets the suite's XLA flags)

  write_checkpoint()
  EXPECTED.write_text(json.dumps(predictions()) + "\n")

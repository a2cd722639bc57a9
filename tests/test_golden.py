"""Behaviour pinned by golden values recorded before the package was restructured.

`tests/golden/behaviour.json` holds, for the tiny synthetic config as it was
then (its saved config.json is part of the file): every loss term of three
training steps on fixed batches, checksums of the parameters and BatchNorm
statistics after them, and the evaluation of that state on fixed examples.
The config is read back the way a checkpoint's saved config is read, so this
also pins that a config written before newer keys existed still builds the
network it was trained with.
"""

import json
import pathlib

import jax
import numpy as np

from ncl_jax.evaluation.loop import evaluate
from ncl_jax.serving.restore import read_config
from tests.conftest import make_runtime
from tests.test_bad_data import png_bytes, record

GOLDEN = pathlib.Path(__file__).parent / "golden" / "behaviour.json"


def fixed_examples():
  """Five records of different sizes, one authentic: the evaluation's input."""
  rng = np.random.default_rng(11)
  records = []
  for index, (height, width) in enumerate(((64, 64), (48, 80), (96, 72), (64, 64), (50, 50))):
    mask = np.zeros((height, width), np.uint8)
    if index != 3:
      top, left = rng.integers(0, height // 2), rng.integers(0, width // 2)
      mask[top : top + height // 3, left : left + width // 3] = 255
    image = rng.integers(0, 256, (height, width, 3), np.uint8)
    records.append(record(f"{index}.png", png_bytes(image), png_bytes(mask), int(mask.any())))
  return records


def fixed_batch(config, seed):
  """Images with one large rectangle each (every patch category, so every loss
  term is exercised) and one authentic image."""
  rng = np.random.default_rng(100 + seed)
  size, batch = config.image_size, config.batch_size
  mask = np.zeros((batch, size, size), np.uint8)
  for b in range(1, batch):
    top, left = rng.integers(0, size // 3, 2)
    mask[b, top : top + size // 2 + b, left : left + size // 2] = 1
  image = rng.normal(size=(batch, size, size, 3)).astype(np.float32)
  return {"image": image, "mask": mask}


def checksums(tree):
  leaves = [np.asarray(x, np.float64) for x in jax.tree.leaves(tree)]
  return {
    "sum": float(sum(x.sum() for x in leaves)),
    "abs_sum": float(sum(np.abs(x).sum() for x in leaves)),
  }


def behaviour(config):
  """Losses of three steps, checksums after them, and an evaluation."""
  runtime, state = make_runtime(config)
  steps = []
  for seed in range(3):
    batch = fixed_batch(config, seed)
    state, terms = runtime.train_step(state, {k: runtime.mesh.shard(v) for k, v in batch.items()})
    steps.append({k: float(v) for k, v in jax.device_get(terms).items()})
  result = evaluate(
    runtime.predict, runtime.mesh, state.variables, fixed_examples(), config
  ).metrics
  return {
    "steps": steps,
    "params": checksums(state.params),
    "batch_stats": checksums(state.batch_stats),
    "evaluation": {k: v for k, v in result.items() if isinstance(v, (int, float))},
  }


def golden_config():
  """The saved config; with XLA's own convolutions, the formulation it was recorded
  with (the CPU formulations round differently; they are tested against nn.Conv)."""
  config = read_config(str(GOLDEN.parent))
  config.model.conv_impl = "xla"
  return config


# The jax the values were recorded with (the lower bound in setup.cfg, which CI runs),
# at the suite's XLA flags (conftest.TEST_XLA_FLAGS). XLA:CPU compiles for
# the processor it runs on, so on another one (another vector width, another order of
# float32 additions) the last bits move, and another XLA rounds differently. The losses
# and metrics are compared relative to themselves. The checksums are sums over every
# parameter, whose rounding grows with the number of terms and whose signed sum cancels,
# so they are compared relative to the tree's absolute sum. Any change of the method
# (a loss term, an initializer, the optimizer) moves the later steps' losses by far more.
# The evaluation's metrics rank pixels and images, so such a last-bit change can swap
# two nearly tied probabilities and move an AUC by one pair over all pairs: they are
# compared as another XLA's values are.
RECORDED_WITH_JAX = "0.10.2"
CHECKSUM_RTOL = 1e-5
EVALUATION_RTOL = 1e-5


def assert_behaviour_close(got, expected, rtol):
  assert jax.tree.structure(got) == jax.tree.structure(expected)
  for tree in ("params", "batch_stats"):
    scale = expected[tree]["abs_sum"]
    for key in ("sum", "abs_sum"):
      np.testing.assert_allclose(
        got[tree][key],
        expected[tree][key],
        rtol=0,
        atol=CHECKSUM_RTOL * scale,
        err_msg=f"{tree} {key}",
      )
  for part, part_rtol in (("steps", rtol), ("evaluation", max(rtol, EVALUATION_RTOL))):
    for a, b in zip(jax.tree.leaves(got[part]), jax.tree.leaves(expected[part])):
      atol = 0 if part_rtol < 1e-5 else 1e-6
      np.testing.assert_allclose(a, b, rtol=part_rtol, atol=atol, err_msg=part)


def test_behaviour_equals_the_golden_values():
  expected = json.loads(GOLDEN.read_text())
  got = behaviour(golden_config())
  # Metrics added since are not part of the recorded behaviour.
  got["evaluation"] = {key: got["evaluation"][key] for key in expected["behaviour"]["evaluation"]}
  assert_behaviour_close(
    got, expected["behaviour"], rtol=1e-6 if jax.__version__ == RECORDED_WITH_JAX else 1e-5
  )


if __name__ == "__main__":  # python -m tests.test_golden: re-record the values
  import tests.conftest  # noqa: F401  (sets the suite's XLA flags)

  recorded = json.loads(GOLDEN.read_text())["behaviour"]
  values = behaviour(golden_config())
  values["evaluation"] = {key: values["evaluation"][key] for key in recorded["evaluation"]}
  GOLDEN.write_text(json.dumps({"behaviour": values}, indent=2) + "\n")

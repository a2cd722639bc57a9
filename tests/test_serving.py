"""Serving loads no training code: a fresh process restores a checkpoint through
`Predictor`, predicts, and has imported neither the input pipeline, the data
builders, the training package nor TFDS, grain, optax or tensorboardX."""

import os
import subprocess
import sys
import textwrap

from tests.conftest import REPO_ROOT
from tests.test_old_checkpoint import CHECKPOINT

FORBIDDEN_PACKAGES = ("tensorflow_datasets", "grain", "optax", "tensorboardX")
FORBIDDEN_MODULES = (
  "ncl_jax.data",
  "ncl_jax.training",
  "ncl_jax.method.losses",
  "ncl_jax.method.objective",
  "ncl_jax.input.input_pipeline",
  "ncl_jax.evaluation",
)


def test_predictor_and_predict_cli_import_no_training_code():
  code = textwrap.dedent(f"""
    import sys
    import numpy as np
    import ncl_jax.predict
    from ncl_jax.inference import Predictor

    predictor = Predictor.from_checkpoint({str(CHECKPOINT)!r})
    prediction = predictor.predict(np.full((20, 24, 3), 128, np.uint8))
    assert prediction.probabilities.shape == (20, 24), prediction.probabilities.shape
    packages, modules = {FORBIDDEN_PACKAGES!r}, {FORBIDDEN_MODULES!r}
    print(sorted(
      name for name in sys.modules
      if name.split(".")[0] in packages
      or any(name == m or name.startswith(m + ".") for m in modules)
    ))
  """)
  run = subprocess.run(
    [sys.executable, "-c", code],
    cwd=REPO_ROOT,
    capture_output=True,
    text=True,
    timeout=300,
    env=dict(os.environ, PYTHONPATH=REPO_ROOT),
  )
  assert run.returncode == 0, run.stderr[-3000:]
  assert run.stdout.strip().splitlines()[-1] == "[]", run.stdout[-2000:]

r"""COVERAGE (copy-move), trained and tested on its own split (75 / 25 forgeries).

The paper's recipe (configs/default.py) on this dataset, for a number of epochs
(docs/method.md): the best checkpoint by pixel F1 on a validation split carved
from train (by group, seeded; listed in the build report) is tested.

  python -m ncl_jax.main --config=configs/coverage.py --workdir=runs/coverage \
      --config.dataset.manual_dir=/path/to/the/download
  python -m ncl_jax.main --config=configs/coverage.py:runlocal ...   # a smoke run
"""

from configs import default


def get_config(arg=""):
  config = default.get_config(arg)
  config.dataset.name = "coverage"
  if arg != "runlocal":
    config.num_epochs = 200.0
    config.eval_every_epochs = 20.0
  return config

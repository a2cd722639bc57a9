r"""NIST16, trained and tested on the SPAN split (404 / 160 manipulated probes).

The paper's recipe (configs/default.py) on this dataset, for a number of epochs
(docs/method.md): the best checkpoint by pixel F1 on a validation split carved
from train (by group, seeded; listed in the build report) is tested.

  python -m ncl_jax.main --config=configs/nist16.py --workdir=runs/nist16 \
      --config.dataset.manual_dir=/path/to/the/download
  python -m ncl_jax.main --config=configs/nist16.py:runlocal ...   # a smoke run
"""

from configs import default


def get_config(arg=""):
  config = default.get_config(arg)
  config.dataset.name = "nist16"
  if arg != "runlocal":
    config.num_epochs = 200.0
    config.eval_every_epochs = 20.0
  return config

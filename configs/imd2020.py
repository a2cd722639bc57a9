r"""IMD2020, trained and tested on CAT-Net's lists (1,869 / 141).

The paper's recipe (configs/default.py) on this dataset, for a number of epochs
(docs/method.md): the best checkpoint by pixel F1 on a validation split carved
from train (by group, seeded; listed in the build report) is tested.

  python -m ncl_jax.main --config=configs/imd2020.py --workdir=runs/imd2020 \
      --config.dataset.manual_dir=/path/to/the/download
  python -m ncl_jax.main --config=configs/imd2020.py:runlocal ...   # a smoke run
"""

from configs import default


def get_config(arg=""):
  config = default.get_config(arg)
  config.dataset.name = "imd2020"
  if arg != "runlocal":
    config.num_epochs = 100.0
    config.eval_every_epochs = 10.0
  return config

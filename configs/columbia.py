r"""Columbia uncompressed splicing, trained and tested on the seeded 75/25 split.

The paper's recipe (configs/default.py) on this dataset, for a number of epochs
(docs/method.md): the best checkpoint by pixel F1 on a validation split carved
from train (by group, seeded; listed in the build report) is tested.

  python -m ncl_jax.main --config=configs/columbia.py --workdir=runs/columbia \
      --config.dataset.manual_dir=/path/to/the/download
  python -m ncl_jax.main --config=configs/columbia.py:runlocal ...   # a smoke run
"""

from configs import default


def get_config(arg=""):
  config = default.get_config(arg)
  config.dataset.name = "columbia"
  if arg != "runlocal":
    config.num_epochs = 200.0
    config.eval_every_epochs = 20.0
  return config

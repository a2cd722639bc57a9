r"""DEFACTO, tested on the 6,000 manipulated images of DEFACTO-12k, trained on the rest.

The paper's recipe (configs/default.py) on this dataset, for a number of epochs
(docs/method.md): the best checkpoint by pixel F1 on a validation split carved
from train (by group, seeded; listed in the build report) is tested.

  python -m ncl_jax.main --config=configs/defacto.py --workdir=runs/defacto \
      --config.dataset.manual_dir=/path/to/the/download
  python -m ncl_jax.main --config=configs/defacto.py:runlocal ...   # a smoke run
"""

from configs import default


def get_config(arg=""):
  config = default.get_config(arg)
  config.dataset.name = "defacto"
  if arg != "runlocal":
    config.num_epochs = 5.0
    config.eval_every_epochs = 0.5
  return config

r"""Columbia uncompressed splicing, trained and tested on the seeded 75/25 split.

The paper's recipe (configs/default.py); only the dataset differs. There is no
validation split, so no model selection: the final checkpoint is evaluated.

  python -m ncl_jax.main --config=configs/columbia.py --workdir=runs/columbia \
      --config.dataset.manual_dir=/path/to/the/download
  python -m ncl_jax.main --config=configs/columbia.py:runlocal ...   # a smoke run
"""
from configs import default


def get_config(arg=""):
  config = default.get_config(arg)
  config.dataset.name = "columbia"
  config.dataset.eval_split = ""
  return config

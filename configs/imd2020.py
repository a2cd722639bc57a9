r"""IMD2020, trained and tested on CAT-Net's lists (1,869 / 141).

The paper's recipe (configs/default.py); only the dataset differs. There is no
validation split, so no model selection: the final checkpoint is evaluated.

  python -m ncl_jax.main --config=configs/imd2020.py --workdir=runs/imd2020 \
      --config.dataset.manual_dir=/path/to/the/download
  python -m ncl_jax.main --config=configs/imd2020.py:runlocal ...   # a smoke run
"""
from configs import default


def get_config(arg=""):
  config = default.get_config(arg)
  config.dataset.name = "imd2020"
  config.dataset.eval_split = ""
  return config

r"""DEFACTO, tested on the 6,000 manipulated images of DEFACTO-12k, trained on the rest.

The paper's recipe (configs/default.py); only the dataset differs. There is no
validation split, so no model selection: the final checkpoint is evaluated.

  python -m ncl_jax.main --config=configs/defacto.py --workdir=runs/defacto \
      --config.dataset.manual_dir=/path/to/the/download
  python -m ncl_jax.main --config=configs/defacto.py:runlocal ...   # a smoke run
"""
from configs import default


def get_config(arg=""):
  config = default.get_config(arg)
  config.dataset.name = "defacto"
  config.dataset.eval_split = ""
  return config

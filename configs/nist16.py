r"""NIST16, trained and tested on the SPAN split (404 / 160 manipulated probes).

The paper's recipe (configs/default.py); only the dataset differs. There is no
validation split, so no model selection: the final checkpoint is evaluated.

  python -m ncl_jax.main --config=configs/nist16.py --workdir=runs/nist16 \
      --config.dataset.manual_dir=/path/to/the/download
  python -m ncl_jax.main --config=configs/nist16.py:runlocal ...   # a smoke run
"""
from configs import default


def get_config(arg=""):
  config = default.get_config(arg)
  config.dataset.name = "nist16"
  config.dataset.eval_split = ""
  return config

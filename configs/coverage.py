r"""COVERAGE (copy-move), trained and tested on its own split (75 / 25 forgeries).

The paper's recipe (configs/default.py); only the dataset differs. There is no
validation split, so no model selection: the final checkpoint is evaluated.

  python -m ncl_jax.main --config=configs/coverage.py --workdir=runs/coverage \
      --config.dataset.manual_dir=/path/to/the/download
  python -m ncl_jax.main --config=configs/coverage.py:runlocal ...   # a smoke run
"""
from configs import default


def get_config(arg=""):
  config = default.get_config(arg)
  config.dataset.name = "coverage"
  config.dataset.eval_split = ""
  return config

r"""IMD2020, trained and tested on CAT-Net's lists (1,869 / 141).

The paper's recipe on this dataset (configs/benchmark.py; epochs in docs/method.md).

  python -m ncl_jax.main --config=configs/imd2020.py --workdir=runs/imd2020 \
      --config.dataset.manual_dir=/path/to/the/download
  python -m ncl_jax.main --config=configs/imd2020.py:runlocal ...   # a smoke run
"""

from configs.benchmark import benchmark_config


def get_config(arg=""):
  """The config (`arg` "runlocal": a one-minute smoke run)."""
  return benchmark_config("imd2020", num_epochs=100, eval_every_epochs=10, arg=arg)

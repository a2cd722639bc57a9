r"""Columbia uncompressed splicing, trained and tested on the seeded 75/25 split.

The paper's recipe on this dataset (configs/benchmark.py; epochs in docs/method.md).

  python -m ncl_jax.main --config=configs/columbia.py --workdir=runs/columbia \
      --config.dataset.manual_dir=/path/to/the/download
  python -m ncl_jax.main --config=configs/columbia.py:runlocal ...   # a smoke run
"""

from configs.benchmark import benchmark_config


def get_config(arg=""):
  """The config (`arg` "runlocal": a one-minute smoke run)."""
  return benchmark_config("columbia", num_epochs=200, eval_every_epochs=20, arg=arg)

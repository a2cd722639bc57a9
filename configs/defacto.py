r"""DEFACTO, tested on the 6,000 manipulated images of DEFACTO-12k, trained on the rest.

The paper's recipe on this dataset (configs/benchmark.py; epochs in docs/method.md).

  python -m ncl_jax.main --config=configs/defacto.py --workdir=runs/defacto \
      --config.dataset.manual_dir=/path/to/the/download
  python -m ncl_jax.main --config=configs/defacto.py:runlocal ...   # a smoke run
"""

from configs.benchmark import benchmark_config


def get_config(arg=""):
  """The config (`arg` "runlocal": a one-minute smoke run)."""
  return benchmark_config("defacto", num_epochs=5, eval_every_epochs=0.5, arg=arg)

r"""NIST16, trained and tested on the SPAN split (404 / 160 manipulated probes).

The paper's recipe on this dataset (configs/benchmark.py; epochs in docs/method.md).

  python -m ncl_jax.main --config=configs/nist16.py --workdir=runs/nist16 \
      --config.dataset.manual_dir=/path/to/the/download
  python -m ncl_jax.main --config=configs/nist16.py:runlocal ...   # a smoke run
"""

from configs.benchmark import benchmark_config


def get_config(arg=""):
  """The config (`arg` "runlocal": a one-minute smoke run)."""
  return benchmark_config("nist16", num_epochs=200, eval_every_epochs=20, arg=arg)

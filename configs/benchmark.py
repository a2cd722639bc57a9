"""The paper's recipe on one benchmark dataset, trained and tested on its own split:
the best checkpoint by pixel F1 on a validation split carved from train (by group,
seeded; listed in the build report) is tested. The per-dataset configs (columbia,
coverage, defacto, imd2020, nist16) are this function with their dataset and epochs.
"""

from configs import default


def benchmark_config(name, num_epochs, eval_every_epochs, arg=""):
  """configs/default.py on dataset `name` for `num_epochs` epochs of its training
  split, validated every `eval_every_epochs` (`arg` "runlocal": a smoke run)."""
  config = default.get_config(arg)
  config.dataset.name = name
  if arg != "runlocal":
    config.num_epochs = float(num_epochs)
    config.eval_every_epochs = float(eval_every_epochs)
  return config

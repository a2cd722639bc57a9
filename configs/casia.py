r"""Train on CASIA v2.0 (CAT-Net's train list), select on its validation list,
test on CASIA v1.0: the paper's recipe (configs/default.py) on the CASIA protocol.

  python -m ncl_jax.main --config=configs/casia.py --workdir=runs/casia \
      --config.dataset.manual_dir=/path/to/CASIA2 \
      --config.test_datasets.casia_v1.manual_dir=/path/to/CASIA1
"""

import ml_collections

from configs import default


def get_config(arg=""):
  """The config (`arg` "runlocal": a one-minute smoke run)."""
  config = default.get_config(arg)
  config.dataset.name = "casia/v2"
  if arg != "runlocal":  # 50 epochs of CAT-Net's CASIA v2 train list
    config.num_epochs = 50.0
    config.eval_every_epochs = 5.0
  config.dataset.test_split = ""  # CASIA v1 is the test set
  config.test_datasets.casia_v1 = ml_collections.ConfigDict(
    {"name": "casia/v1", "split": "test", "manual_dir": "", "data_dir": ""}
  )
  return config

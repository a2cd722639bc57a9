r"""IMDL-BenCo's protocol (from MVSS-Net): train on CASIA v2.0 only, evaluate on
CASIA v1.0, Columbia, COVERAGE, NIST16 and IMD2020 with pixel F1 at 0.5, 512x512.
Compare only with IMDL-BenCo's numbers, never with the per-dataset table.

Our builders split Columbia, COVERAGE, NIST16 and IMD2020; this config evaluates
their `test` splits (IMDL-BenCo evaluates whole datasets for some of them). Set
`--config.test_datasets.<key>.split=train+test` to evaluate a whole dataset.

  python -m ncl_jax.main --config=configs/protocol_mvss.py --workdir=runs/mvss \
      --config.dataset.manual_dir=/data/CASIA2 \
      --config.test_datasets.casia_v1.manual_dir=/data/CASIA1 \
      --config.test_datasets.columbia.manual_dir=/data/Columbia \
      --config.test_datasets.coverage.manual_dir=/data/COVERAGE \
      --config.test_datasets.nist16.manual_dir=/data/NC2016_Test0613 \
      --config.test_datasets.imd2020.manual_dir=/data/IMD2020
"""
import ml_collections

from configs import casia, default

OTHERS = ("columbia", "coverage", "nist16", "imd2020")


def get_config(arg=""):
  config = casia.get_config(arg)
  for name in OTHERS:
    config.test_datasets[name] = ml_collections.ConfigDict(
        {"name": name, "split": "test", "manual_dir": "", "data_dir": ""})
  return config

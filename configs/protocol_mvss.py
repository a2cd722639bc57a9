r"""IMDL-BenCo's protocol (from MVSS-Net): train on CASIA v2.0, evaluate on CASIA
v1.0, Columbia, COVERAGE, NIST16 and IMD2020 with IMDL-BenCo's own evaluator
(`eval_protocol="imdlbenco"`: images resized to 512x512 with OpenCV, pixel metrics
over the manipulated images as IMDL-BenCo's test sets hold only those, image metrics
over every image; ncl_jax/metrics.py). IMDL-BenCo's other test mode, zero-padding to
1024x1024 with a shape mask (IML-ViT's): `--config.eval_protocol=imdlbenco_pad`
(an image over 1024 px on a side is cropped to its top-left 1024x1024, as IMDL-BenCo's
PadIfNeeded + Crop do). Compare only with IMDL-BenCo's numbers, never with the
per-dataset table.

Training data: CAT-Net's CASIA v2 train list (ncl_jax/data/casia/casia2_train.txt); its
validation list selects the checkpoint; its test list is not used. IMDL-BenCo
trains on the whole of CASIA v2 without a selection split; to do the same:
`--config.dataset.train_split=train+validation+test --config.dataset.eval_split=""`.

Every test dataset is evaluated whole, as IMDL-BenCo does: all of CASIA v1, and
train+validation+test of the others (the split "authentic" of NIST16, world/'s
images, and of IMD2020, its originals, are not among them; IMDL-BenCo's NIST16 holds
the 564 manipulated).

  python -m ncl_jax.main --config=configs/protocol_mvss.py --workdir=runs/mvss \
      --config.dataset.manual_dir=/data/CASIA2 \
      --config.test_datasets.casia_v1.manual_dir=/data/CASIA1 \
      --config.test_datasets.columbia.manual_dir=/data/Columbia \
      --config.test_datasets.coverage.manual_dir=/data/COVERAGE \
      --config.test_datasets.nist16.manual_dir=/data/NC2016_Test0613 \
      --config.test_datasets.imd2020.manual_dir=/data/IMD2020
"""

import ml_collections

from configs import casia

OTHERS = ("columbia", "coverage", "nist16", "imd2020")
WHOLE = "train+validation+test"


def get_config(arg=""):
  """The config (`arg` "runlocal": a one-minute smoke run)."""
  config = casia.get_config(arg)
  config.eval_protocol = "imdlbenco"
  config.image_size = 512 if arg != "runlocal" else config.image_size
  for name in OTHERS:
    config.test_datasets[name] = ml_collections.ConfigDict(
      {"name": name, "split": WHOLE, "manual_dir": "", "data_dir": ""}
    )
  return config

"""Build a dataset without training.

  python -m ncl_jax.data.build ncl_synthetic [--data_dir=DIR] [--manual_dir=DIR]
"""
from absl import app, flags

from . import DATASET_NAMES, ensure_built

flags.DEFINE_string("data_dir", None, "Where the TFDS files go (default ~/tensorflow_datasets).")
flags.DEFINE_string("manual_dir", None, "The downloaded benchmark's folder.")
FLAGS = flags.FLAGS


def main(argv):
  if len(argv) != 2:
    raise app.UsageError(f"give one dataset name, one of: {', '.join(DATASET_NAMES)}")
  builder = ensure_built({"name": argv[1], "data_dir": FLAGS.data_dir,
                          "manual_dir": FLAGS.manual_dir})
  for split, info in builder.info.splits.items():
    print(f"{split}: {info.num_examples} examples")
  print(f"Ready: {builder.data_path}")


if __name__ == "__main__":
  app.run(main)

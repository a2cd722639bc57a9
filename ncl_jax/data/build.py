"""Build a dataset without training.

  python -m ncl_jax.data.build NAME [--manual_dir=DIR] [--data_dir=DIR] [--option key=value]

NAME as in data/: ncl_synthetic, coverage, casia/v1, casia/v2, columbia, nist16,
defacto, imd2020, iml_folder. Options: mask_size_policy=resize|skip, seed=N
(seeded splits), train_subset=N (DEFACTO), folder_name=NAME (iml_folder).
"""

from absl import app, flags

from . import DATASET_NAMES, ensure_built

FLAGS = flags.FLAGS


def define_flags():
  """Flags, defined only when run as a program, so the CLI modules import together."""
  flags.DEFINE_string("data_dir", None, "Where the TFDS files go (default ~/tensorflow_datasets).")
  flags.DEFINE_string("manual_dir", None, "The downloaded benchmark's folder.")
  flags.DEFINE_multi_string("option", [], "A builder option as key=value (repeatable).")


def main(argv):
  """Builds the named dataset and prints its build report."""
  if len(argv) != 2:
    raise app.UsageError(f"give one dataset name, one of: {', '.join(DATASET_NAMES)}")
  options = {}
  for option in FLAGS.option:
    key, sep, value = option.partition("=")
    if not sep:
      raise app.UsageError(f"--option {option!r} is not key=value")
    options[key] = int(value) if value.lstrip("-").isdigit() else value
  builder = ensure_built(
    {
      "name": argv[1],
      "data_dir": FLAGS.data_dir,
      "manual_dir": FLAGS.manual_dir,
      "options": options,
    }
  )
  for split, info in builder.info.splits.items():
    print(f"{split}: {info.num_examples} examples")
  print(f"Ready: {builder.data_path}")


if __name__ == "__main__":
  define_flags()
  app.run(main)

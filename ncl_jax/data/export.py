"""Write a built split back to files: the original image bytes and binary PNG masks.

  python -m ncl_jax.data.export ncl_synthetic --split=test --output=DIR [--data_dir=DIR]

DIR/images/<file_name> and DIR/masks/<stem>.png (255 = manipulated), e.g. to try
`python -m ncl_jax.predict` on images the benchmark knows the answer for.
"""

import posixpath

from absl import app, flags

from ncl_jax import paths

from . import get_builder

FLAGS = flags.FLAGS


def define_flags():
  """Flags, defined only when run as a program, so the CLI modules import together."""
  flags.DEFINE_string("split", "test", "The split to write.")
  flags.DEFINE_string("output", None, "Where to write.")
  flags.DEFINE_string("data_dir", None, "Where the TFDS files are (default ~/tensorflow_datasets).")
  flags.mark_flag_as_required("output")


def export_split(builder, split, output) -> int:
  """Writes a split's images and masks as files under `output`; returns their count."""
  output = paths.resolve(output)
  for sub in ("images", "masks"):
    (output / sub).mkdir(parents=True, exist_ok=True)
  count = 0
  for record in builder.as_data_source(split):
    name = posixpath.basename(record["file_name"].decode())
    (output / "images" / name).write_bytes(record["image"])
    (output / "masks" / f"{posixpath.splitext(name)[0]}.png").write_bytes(record["mask"])
    count += 1
  return count


def main(argv):
  """Exports one split of a built dataset as image and mask files."""
  if len(argv) != 2:
    raise app.UsageError("give one dataset name")
  builder = get_builder({"name": argv[1], "data_dir": FLAGS.data_dir})
  count = export_split(builder, FLAGS.split, FLAGS.output)
  print(f"wrote {count} images and masks to {FLAGS.output}")


if __name__ == "__main__":
  define_flags()
  app.run(main)

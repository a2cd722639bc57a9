"""Localize manipulations in image files with a trained checkpoint.

  python -m ncl_jax.predict --checkpoint=runs/synthetic [--output=predictions] PATH...

PATH: image files or folders (searched recursively). For each image it writes
<name>_mask.png (binary), <name>_prob.png (heat map) and <name>_overlay.png, and
appends a line to <output>/predictions.jsonl naming them. <name> is the file's
stem (its path below a given folder, joined with "__"); where two inputs would
share one, such as x.jpg and x.png, each keeps its extension (x.jpg_mask.png), so
no output is ever overwritten. A file that cannot be read is reported on stderr
and in the JSONL with its error; the others are still done. Exit code 0 if every
file was processed, 1 if any failed.
"""
import collections
import json
import os
import pathlib
import sys
import time

import numpy as np
from absl import app, flags
from PIL import Image
from tqdm import tqdm

from ncl_jax import inference, visualize

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
FLAGS = flags.FLAGS


def define_flags():
  """Flags, defined only when run as a program, so the CLI modules import together."""
  flags.DEFINE_string("checkpoint", None, "A workdir (its best checkpoint) or a checkpoint step dir.")
  flags.DEFINE_string("output", "predictions", "Where the pictures and predictions.jsonl go.")
  flags.DEFINE_enum("strategy", "resize", list(inference.STRATEGIES),
                    "resize (default: the whole image at the training size, as evaluated), "
                    "sliding (full-resolution windows) or auto.")
  flags.DEFINE_float("threshold", 0.5, "Probability above which a pixel is manipulated.")
  flags.mark_flag_as_required("checkpoint")


def collect(paths):
  """(file, output name) pairs: files as given, folders recursed for images. Names
  are unique: inputs whose stems collide keep their extensions."""
  found = []
  for path in map(pathlib.Path, paths):
    if path.is_dir():
      for file in sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS):
        found.append((file, file.relative_to(path).parts))
    else:
      found.append((path, (path.name,)))
  stems = collections.Counter("__".join(parts[:-1] + (pathlib.Path(parts[-1]).stem,))
                              for _, parts in found)
  named, taken = [], set()
  for file, parts in found:
    name = "__".join(parts[:-1] + (pathlib.Path(parts[-1]).stem,))
    if stems[name] > 1 or name in taken:
      name = "__".join(parts)
    while name in taken:                   # the same file given twice
      name += "_"
    taken.add(name)
    named.append((file, name))
  return named


def write_outputs(output, name, image, prediction, threshold) -> dict:
  """Writes the three pictures; returns {"mask", "prob", "overlay"}: their file names."""
  mask = prediction.mask(threshold)
  files = {kind: f"{name}_{kind}.png" for kind in ("mask", "prob", "overlay")}
  Image.fromarray(mask * 255).save(output / files["mask"])
  Image.fromarray(visualize.heatmap(prediction.probabilities)).save(output / files["prob"])
  Image.fromarray(visualize.overlay(image, mask)).save(output / files["overlay"])
  return files


def run(predictor, paths, output, threshold=0.5, log=print) -> int:
  """Process every file; returns the number of files that failed."""
  output = pathlib.Path(output)
  output.mkdir(parents=True, exist_ok=True)
  failures = 0
  with open(output / "predictions.jsonl", "a", encoding="utf-8") as jsonl:
    for file, name in tqdm(collect(paths), desc="predict", unit="image"):
      start = time.time()
      try:
        prediction = predictor.predict(file)   # the file, read as evaluation reads files
        files = write_outputs(output, name, inference.load_image(file), prediction, threshold)
        record = {"file": str(file), "image_score": prediction.score,
                  "manipulated_fraction": float(prediction.mask(threshold).mean()),
                  "outputs": files, "seconds": round(time.time() - start, 4)}
      except Exception as error:  # report and go on: one bad file never stops the batch
        failures += 1
        record = {"file": str(file), "error": f"{type(error).__name__}: {error}"}
        log(f"error: {file}: {record['error']}", file=sys.stderr)
      jsonl.write(json.dumps(record) + "\n")
  return failures


def main(argv):
  if len(argv) < 2:
    raise app.UsageError("give at least one image file or folder")
  predictor = inference.Predictor.from_checkpoint(FLAGS.checkpoint, strategy=FLAGS.strategy)
  failures = run(predictor, argv[1:], FLAGS.output, FLAGS.threshold)
  print(f"{failures} file(s) failed; results in {os.path.abspath(FLAGS.output)}")
  sys.exit(1 if failures else 0)


if __name__ == "__main__":
  define_flags()
  app.run(main)

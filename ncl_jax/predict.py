"""Localize manipulations in image files: with the model shipped in the package,
or a checkpoint of your own.

  python -m ncl_jax.predict [--output=predictions] PATH...          # newest shipped model
  python -m ncl_jax.predict --model=photos-v1 PATH...               # a shipped model by name
  python -m ncl_jax.predict --checkpoint=runs/synthetic PATH...     # your training run

PATH: image files or folders (searched recursively). For each image it writes
<name>_mask.png (binary), <name>_prob.png (heat map), <name>_overlay.png and
<name>_prob16.png (the probabilities themselves as 16-bit gray levels, p * 65535,
for computing metrics), and appends a line to <output>/predictions.jsonl naming
them, with the image score, the decision `edited` (the score above the shipped
model's calibrated threshold; null for a checkpoint, which has none) and the
model (a shipped model's name, version and SHA-256; a checkpoint's path and step).
<name> is the file's
stem (its path below a given folder, joined with "__"); where two inputs would
share one, such as x.jpg and x.png, each keeps its extension (x.jpg_mask.png), so
no output is ever overwritten. A file that cannot be read is reported on stderr
and in the JSONL with its error; the others are still done. Exit code 0 if every
file was processed, 1 if any failed.
"""

import collections
import io
import json
import sys
import time

import numpy as np
from absl import app, flags
from PIL import Image, PngImagePlugin
from tqdm import tqdm

from ncl_jax import inference
from ncl_jax import paths as paths_lib
from ncl_jax.serving import visualize
from ncl_jax.serving.prediction import PREDICTION_VIEWS

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
FLAGS = flags.FLAGS


def define_model_flags():
  """--checkpoint and --model (at most one), the flags of `make_predictor`."""
  flags.DEFINE_string(
    "checkpoint", None, "A workdir (its best checkpoint) or a checkpoint step dir."
  )
  flags.DEFINE_string(
    "model", None, "A model shipped in the package (default: the newest, without --checkpoint)."
  )
  flags.register_multi_flags_validator(
    ["checkpoint", "model"],
    lambda values: not (values["checkpoint"] and values["model"]),
    message="give --checkpoint or --model, not both",
  )


def define_flags():
  """Flags, defined only when run as a program, so the CLI modules import together."""
  define_model_flags()
  flags.DEFINE_string("output", "predictions", "Where the pictures and predictions.jsonl go.")
  flags.DEFINE_enum(
    "strategy",
    None,
    list(inference.STRATEGIES),
    "resize (the whole image at the training size, as evaluated), sliding "
    "(full-resolution windows) or auto (default: the model's prediction_strategy).",
  )
  flags.DEFINE_float("threshold", 0.5, "Probability above which a pixel is manipulated.")
  flags.DEFINE_enum(
    "views",
    None,
    [str(views) for views in PREDICTION_VIEWS],
    "Flips and transposes averaged per image (default: the checkpoint's prediction_views).",
  )


def _stem(file_name: str) -> str:
  return file_name.rsplit(".", 1)[0] if "." in file_name[1:] else file_name


def collect(inputs):
  """(file, output name) pairs: files as given, folders recursed for images. Names
  are unique: inputs whose stems collide keep their extensions."""
  found = []
  for path in map(paths_lib.resolve, inputs):
    if path.is_dir():
      for file in (p for p in paths_lib.files_under(path) if p.suffix.lower() in IMAGE_EXTENSIONS):
        found.append((file, file.relative_to(path).parts))
    else:
      found.append((path, (path.name,)))
  stems = collections.Counter("__".join(parts[:-1] + (_stem(parts[-1]),)) for _, parts in found)
  named, taken = [], set()
  for file, parts in found:
    name = "__".join(parts[:-1] + (_stem(parts[-1]),))
    if stems[name] > 1 or name in taken:
      name = "__".join(parts)
    while name in taken:  # the same file given twice
      name += "_"
    taken.add(name)
    named.append((file, name))
  return named


def write_outputs(output, name, image, prediction, threshold, model_info=None) -> dict:
  """Writes the pictures; returns {"mask", "prob", "overlay", "prob16"}: their file names.
  Each PNG names the model in a text chunk ("ncl_jax_model": `model_info` as JSON)."""
  mask = prediction.mask(threshold)
  pictures = {
    "mask": mask * 255,
    "prob": visualize.heatmap(prediction.probabilities),
    "overlay": visualize.overlay(image, mask),
    "prob16": probabilities_to_uint16(prediction.probabilities),
  }
  files = {}
  text = PngImagePlugin.PngInfo()
  text.add_text("ncl_jax_model", json.dumps(model_info or {}))
  for kind, picture in pictures.items():
    files[kind] = f"{name}_{kind}.png"
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, "PNG", pnginfo=text)
    (output / files[kind]).write_bytes(buffer.getvalue())
  return files


def probabilities_to_uint16(probabilities) -> np.ndarray:
  """float [H, W] in [0, 1] -> uint16, p * 65535 rounded (what _prob16.png holds)."""
  return np.round(np.clip(probabilities, 0, 1) * 65535).astype(np.uint16)


def predict_file(predictor, file, name, output, threshold=0.5) -> dict:
  """Predicts one file and writes its pictures to `output`; returns its JSONL record."""
  start = time.time()
  prediction = predictor.predict(file)  # the file, read as evaluation reads files
  image = inference.load_image(file)
  files = write_outputs(output, name, image, prediction, threshold, predictor.model_info)
  return {
    "file": str(file),
    "image_score": prediction.score,
    "edited": prediction.edited,
    "manipulated_fraction": float(prediction.mask(threshold).mean()),
    "outputs": files,
    "seconds": round(time.time() - start, 4),
    "model": predictor.model_info,
    "strategy": predictor.strategy,
    "views": predictor.views,
  }


def run(predictor, inputs, output, threshold=0.5, log=print) -> int:
  """Process every file; returns the number of files that failed. Inputs and
  output may be local or on GCS (gs://...)."""
  output = paths_lib.resolve(output)
  output.mkdir(parents=True, exist_ok=True)
  jsonl = JsonLines(output / "predictions.jsonl")
  failures = 0
  for file, name in tqdm(collect(inputs), desc="predict", unit="image"):
    try:
      record = predict_file(predictor, file, name, output, threshold)
    except Exception as error:  # report and go on: one bad file never stops the batch
      failures += 1
      record = {"file": str(file), "error": f"{type(error).__name__}: {error}"}
      log(f"error: {file}: {record['error']}", file=sys.stderr)
    jsonl.append(record)
  jsonl.close()
  return failures


class JsonLines:
  """Appends JSON lines to a file: at once on local disk; on a remote filesystem,
  which cannot append, by rewriting the object every 50 lines and at the end."""

  def __init__(self, path):
    self.path, self.remote = path, paths_lib.is_remote(path)
    if self.remote:
      self.lines = path.read_text().splitlines() if path.exists() else []
    else:
      self.file = path.open("a")

  def append(self, record):
    """Appends one record."""
    if self.remote:
      self.lines.append(json.dumps(record))
      if len(self.lines) % 50 == 0:
        self.close()
    else:
      self.file.write(json.dumps(record) + "\n")
      self.file.flush()

  def close(self):
    """Writes what is pending and closes the file."""
    if self.remote:
      self.path.write_text("\n".join(self.lines) + "\n")
    else:
      self.file.close()


def make_predictor(checkpoint=None, model=None, log=print, **options):
  """The Predictor of a checkpoint, or of a shipped model (the newest when neither is
  named). LookupError for an unknown model name, naming the shipped ones."""
  if checkpoint:
    return inference.Predictor.from_checkpoint(checkpoint, **options)
  predictor = inference.Predictor.from_pretrained(model, **options)
  info = predictor.model_info
  log(f"model {info['name']} (version {info['version']}, SHA-256 {info['sha256'][:12]}...)")
  return predictor


def main(argv):
  """Predicts every image given and exits 1 if any failed."""
  if len(argv) < 2:
    raise app.UsageError("give at least one image file or folder")
  options = {"strategy": FLAGS.strategy, "views": None if FLAGS.views is None else int(FLAGS.views)}
  try:
    predictor = make_predictor(FLAGS.checkpoint, FLAGS.model, **options)
  except LookupError as error:
    raise app.UsageError(str(error)) from None
  failures = run(predictor, argv[1:], FLAGS.output, FLAGS.threshold)
  print(f"{failures} file(s) failed; results in {paths_lib.resolve(FLAGS.output)}")
  sys.exit(1 if failures else 0)


if __name__ == "__main__":
  define_flags()
  app.run(main)

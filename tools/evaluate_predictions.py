"""Score `ncl_jax.predict`'s outputs against a test set's masks, per kind of edit.

  python -m ncl_jax.predict --checkpoint=runs/photos --output=OUT TEST/Tp
  python tools/evaluate_predictions.py --predictions=OUT --test_list=TEST/test.json

The test list is IMDL-BenCo's JSON format ([image, mask or "Negative"], as
tools/make_photo_test_set.py writes it); the kind of an image is the start of
its file name before the last "_" (copy_move_003.jpg -> copy_move). For each kind:
pixel F1 at 0.5 and mean per-image pixel AUC over its manipulated images (from
the predictions' _prob16.png), and image AUC of its images against the
authentic ones (from predictions.jsonl's image_score), the share the model's
decision called edited (`edited`, where the model has a calibrated threshold;
for the authentic images, the false-alarm rate), beside the baseline that marks
every pixel manipulated. Metrics are ncl_jax.metrics' (the "ncl" protocol).
`--output` also writes them as JSON, with the command, machine and commit.
"""

import collections
import json
import pathlib

import numpy as np
from absl import app, flags
from PIL import Image

from ncl_jax import metrics, paths, provenance
from ncl_jax.input import imaging

FLAGS = flags.FLAGS


def define_flags():
  """Flags, defined only when run as a program."""
  flags.DEFINE_string("predictions", None, "The --output folder of ncl_jax.predict.")
  flags.DEFINE_string("test_list", None, "The test set's list (IMDL-BenCo's JSON format).")
  flags.DEFINE_string("output", "", "A JSON file for the figures (none: printed only).")
  flags.DEFINE_string("what", "", "The test set, in words, for the JSON.")
  flags.mark_flags_as_required(["predictions", "test_list"])


def kind_figures(lines, out, items, authentic) -> dict:
  """Pixel F1 at 0.5, pixel AUC, image AUC and the share called edited of the
  edited `items` [(image, mask)] against every `authentic` one, and the pixel F1
  of a map that calls every pixel manipulated."""
  model, everything = metrics.Evaluator(), metrics.Evaluator()
  scores, labels = [], []
  for image, mask in items + authentic:
    line, label = lines[image.resolve()], int(mask != "Negative")
    scores.append(line["image_score"])
    labels.append(label)
    probabilities = np.asarray(Image.open(out / line["outputs"]["prob16"]), np.float64) / 65535
    truth = (
      imaging.binarize_mask(np.asarray(Image.open(mask).convert("RGB")))
      if label
      else np.zeros(probabilities.shape, np.uint8)
    )
    model.add(probabilities, truth, label)
    everything.add(np.ones_like(probabilities), truth, label)
  result, baseline = model.result(), everything.result()
  return {
    "images": len(items),
    "pixel_f1": result["pixel_f1"],
    "pixel_auc": result["pixel_auc"],
    "image_auc": metrics.roc_auc(scores, labels),
    "all_manipulated_pixel_f1": baseline["pixel_f1"],
    "called_edited": called_edited(lines[image.resolve()] for image, _ in items),
  }


def print_table(rows, num_authentic):
  """The figures per kind as a markdown table, then as JSON."""
  print(
    "| kind | images | pixel F1@0.5 | pixel AUC | image AUC (vs the "
    f"{num_authentic} authentic) | all-manipulated F1 |"
  )
  print("|---|---|---|---|---|---|")
  for kind, row in rows.items():
    if kind == "authentic":
      continue
    print(
      f"| {kind} | {row['images']} | {row['pixel_f1']:.3f} | {row['pixel_auc']:.3f} | "
      f"{row['image_auc']:.3f} | {row['all_manipulated_pixel_f1']:.3f} |"
    )
  print(json.dumps(rows))


def main(argv):
  """Scores the predictions against the test list, per kind of edit."""
  del argv
  args = FLAGS
  out = pathlib.Path(args.predictions)
  lines = {
    pathlib.Path(line["file"]).resolve(): line
    for line in map(json.loads, (out / "predictions.jsonl").read_text().splitlines())
  }
  entries = json.loads(pathlib.Path(args.test_list).read_text())
  by_kind = collections.defaultdict(list)
  for image, mask in entries:
    by_kind[pathlib.Path(image).stem.rsplit("_", 1)[0]].append((pathlib.Path(image), mask))
  authentic = by_kind.pop("authentic", [])
  everything = [item for items in by_kind.values() for item in items]
  rows = {
    kind: kind_figures(lines, out, items, authentic)
    for kind, items in sorted(by_kind.items()) + [("all", everything)]
  }
  rows["authentic"] = {
    "images": len(authentic),
    "called_edited": called_edited(lines[image.resolve()] for image, _ in authentic),
  }
  print_table(rows, len(authentic))
  if args.output:
    record = {
      "test_set": args.what,
      "predictions": str(out),
      "test_list": args.test_list,
      "figures": rows,
    }
    paths.write_json(args.output, {**record, **provenance.provenance()}, indent=1)


def called_edited(lines) -> float | None:
  """The share of predictions whose decision was "edited" (None: no decision)."""
  decisions = [line.get("edited") for line in lines]
  if not decisions or any(decision is None for decision in decisions):
    return None
  return float(np.mean(decisions))


if __name__ == "__main__":
  define_flags()
  app.run(main)

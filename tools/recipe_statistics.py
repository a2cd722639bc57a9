r"""What a synthesis recipe produces, measured on its output files, and whether two
recipes produce the same thing.

  PYTHONPATH=. python tools/recipe_statistics.py --config=configs/photos.py \
      --config.dataset.synthesis.camera_long_side='(512, 2048)' \
      --config.dataset.manual_dir=PHOTOS --examples=1000 --output=stats.json
  PYTHONPATH=. python tools/recipe_statistics.py ... --examples=300 --compare=stats.json

Each training example of the config (`dataset.name="photo_forgeries"`) is
measured as a user's file would be: its kind, format, size, the share of the
image its mask covers, for a JPEG its luminance quantization (the quality it was
saved at) and chroma subsampling, and the mean high-pass residual of its
luminance inside and outside the mask. The shift of the final JPEG's grid from
the camera's is measured on a probe of the same recipe where the camera's grid
shows (GRID_PROBE): the phases of the strongest grid other than the file's own.
`--compare`
tests each measure against a recorded file: a two-sample Kolmogorov-Smirnov test
per kind for the continuous ones, a chi-square test for the categorical ones,
and fails when any p-value is under `--alpha`.

It reads only what every version of the recipe has (`PhotoForgeries`), so the
same file measures an older checkout installed on its own (`pip install --no-deps
--target OLD_SITE OLD_CHECKOUT`; run from a folder holding its configs/ with
`PYTHONPATH=OLD_SITE:. python .../tools/recipe_statistics.py --commit=OLD_COMMIT`);
it stops if modules of two checkouts were mixed.
"""

import io
import json
import os
import subprocess
import sys

import numpy as np
from absl import app, flags
from ml_collections import config_flags
from PIL import Image, JpegImagePlugin
from scipy import stats as scipy_stats

CONTINUOUS = ("long_side", "aspect", "mask_area", "luma_quant", "residual_in", "residual_out")
CATEGORICAL = ("kind", "format", "subsampling")
# A block grid is reported where its boundaries stand out from their neighbours'
# by this share of the median boundary.
GRID_PEAK = 0.05
# The camera's block grid is too faint to see in most forgeries, so the grid
# shift is measured on a probe: the same recipe with a strong camera JPEG, a
# light final one and no rescale or PNG, where every shift shows.
GRID_PROBE = {
  "camera_jpeg_probability": 1.0,
  "camera_quality": (50, 50),
  "final_quality": (98, 98),
  "rescale_probability": 0.0,
  "final_png_probability": 0.0,
}


def high_pass(luma: np.ndarray) -> np.ndarray:
  """|luma - mean of its 4 neighbours|, float32 [H-2, W-2]."""
  centre = luma[1:-1, 1:-1]
  neighbours = (luma[:-2, 1:-1] + luma[2:, 1:-1] + luma[1:-1, :-2] + luma[1:-1, 2:]) / 4
  return np.abs(centre - neighbours)


def boundary_profile(luma: np.ndarray, axis: int) -> np.ndarray:
  """float [8]: the mean second difference across the boundary before each
  column (axis 1) or row (axis 0) of each phase mod 8; a JPEG's block grid
  stands out at its phase."""
  steps = np.diff(luma, axis=axis)
  steps = steps.T if axis == 1 else steps
  edges = np.abs(steps[1:-1] - 0.5 * (steps[:-2] + steps[2:])).mean(1)  # before index j + 2
  usable = len(edges) // 8 * 8
  return np.roll(edges[:usable].reshape(-1, 8).mean(0), 2)


def grid_phase(luma: np.ndarray) -> str:
  """ "rows,cols": the phases (1-7, or 0 for none) of the strongest block grid
  other than the file's own, from the peaks of the boundary profiles."""
  phases = []
  for axis in (0, 1):
    profile = boundary_profile(luma, axis)
    peaks = profile - 0.5 * (np.roll(profile, 1) + np.roll(profile, -1))
    strongest = int(np.argmax(peaks[1:])) + 1
    phases.append(strongest if peaks[strongest] > GRID_PEAK * np.median(profile) else 0)
  return f"{phases[0]},{phases[1]}"


def measure(record) -> dict:
  """The measures of one example record (see the module docstring)."""
  with Image.open(io.BytesIO(record["image"])) as image:
    luma = np.asarray(image.convert("L"), np.float32)
    is_jpeg = image.format == "JPEG"
    quant = float(np.mean(image.quantization[0])) if is_jpeg else float("nan")
    sampling = JpegImagePlugin.get_sampling(image) if is_jpeg else -1
  mask = np.asarray(record["mask"], bool)[1:-1, 1:-1]
  residual = high_pass(luma)
  height, width = luma.shape
  return {
    "kind": str(record["manipulation_type"]),
    "format": "jpeg" if is_jpeg else "png",
    "long_side": float(max(height, width)),
    "aspect": float(width / height),
    "mask_area": float(mask.mean()),
    "luma_quant": quant,
    "subsampling": int(sampling),
    "residual_in": float(residual[mask].mean()) if mask.any() else float("nan"),
    "residual_out": float(residual[~mask].mean()) if (~mask).any() else float("nan"),
  }


def training_source(config):
  """The config's endless training stream of synthesized examples."""
  from ncl_jax import synthesis  # pylint: disable=g-import-not-at-top  # after flag parsing

  knobs = synthesis.SynthesisConfig.from_config(config.dataset.get("synthesis"))
  return synthesis.PhotoForgeries(config.dataset, knobs).as_data_source("train")


def record_statistics(config, examples: int) -> list:
  """The measures of the first `examples` training examples, in order."""
  source = training_source(config)
  return [measure(source[index]) for index in range(examples)]


def grid_statistics(config, examples: int) -> list:
  """The camera grid's phases ("rows,cols") in the first `examples` examples of
  the grid probe (GRID_PROBE's knobs over the config's)."""
  config = config.copy_and_resolve_references()
  with config.unlocked():
    for knob, value in GRID_PROBE.items():
      config.dataset.synthesis[knob] = value
  source = training_source(config)
  phases = []
  for index in range(examples):
    with Image.open(io.BytesIO(source[index]["image"])) as image:
      phases.append({"grid_phase": grid_phase(np.asarray(image.convert("L"), np.float32))})
  return phases


def _by_kind(rows, key):
  groups = {"all": [r[key] for r in rows]}
  for row in rows:
    groups.setdefault(row["kind"], []).append(row[key])
  return {kind: np.array([v for v in values if v == v]) for kind, values in groups.items()}


def compare(rows, reference_rows, grid=(), reference_grid=()) -> list:
  """[(measure, group, p-value)]: each measure of `rows` (and of the grid probe's
  `grid`) tested against the reference's."""
  results = []
  for key in CONTINUOUS:
    new, old = _by_kind(rows, key), _by_kind(reference_rows, key)
    for kind in sorted(set(new) & set(old)):
      if len(new[kind]) >= 5 and len(old[kind]) >= 5:
        results.append((key, kind, float(scipy_stats.ks_2samp(new[kind], old[kind]).pvalue)))
  pairs = [(key, rows, reference_rows) for key in CATEGORICAL]
  if grid and reference_grid:
    pairs.append(("grid_phase", grid, reference_grid))
  for key, these, those in pairs:
    new, old = [r[key] for r in these], [r[key] for r in those]
    categories = sorted(set(new) | set(old), key=str)
    table = np.array([[values.count(c) for c in categories] for values in (new, old)])
    table = table[:, table.sum(0) > 0]
    p = 1.0 if table.shape[1] < 2 else float(scipy_stats.chi2_contingency(table)[1])
    results.append((key, "all", p))
  return results


def foreign_modules(package) -> list:
  """Files of loaded modules of `package` that are not in its folder (another
  checkout's editable install lending what this one lacks)."""
  root = os.path.dirname(package.__file__)
  return [
    module.__file__
    for name, module in list(sys.modules.items())
    if name.startswith(package.__name__ + ".") and getattr(module, "__file__", None)
    if not module.__file__.startswith(root)
  ]


def commit_of(module) -> str:
  """The git commit of the checkout `module` was imported from, "+changes" when
  its files differ from it ("" outside git)."""
  folder = os.path.dirname(os.path.dirname(os.path.abspath(module.__file__)))

  def git(*args):
    return subprocess.check_output(
      ["git", "-C", folder, *args], text=True, stderr=subprocess.DEVNULL
    ).strip()

  try:
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return git("rev-parse", "HEAD") + ("+changes" if dirty else "")
  except (OSError, subprocess.CalledProcessError):
    return ""


def write_json(path, result):
  """The result, one example per line, floats to 6 significant digits."""
  rounded = [
    {k: float(f"{v:.6g}") if isinstance(v, float) else v for k, v in row.items()}
    for row in result["examples"]
  ]
  head = json.dumps({**result, "examples": None}, indent=1, default=float)
  rows = ",\n".join(json.dumps(row) for row in rounded)
  with open(path, "w") as file:
    file.write(head.replace('"examples": null', '"examples": [\n' + rows + "\n ]") + "\n")


FLAGS = flags.FLAGS


def define_flags():
  """Flags, defined only when run as a program."""
  config_flags.DEFINE_config_file("config", None, "A photo_forgeries training config.")
  flags.DEFINE_integer("examples", 1000, "Training examples measured, from index 0.")
  flags.DEFINE_string("output", "", "Where the measures go (JSON).")
  flags.DEFINE_string("compare", "", "A recorded JSON to test these measures against.")
  flags.DEFINE_float("alpha", 1e-3, "The p-value under which a measure differs.")
  flags.DEFINE_bool("write_examples", True, "Write each example's measures to --output.")
  flags.DEFINE_string(
    "commit", "", "The commit measured, for a checkout installed outside git (default: git's)."
  )
  flags.mark_flags_as_required(["config"])


def main(argv):
  """Measures the examples; writes them and/or compares them with a recording."""
  del argv
  import ncl_jax  # pylint: disable=g-import-not-at-top

  rows = record_statistics(FLAGS.config, FLAGS.examples)
  grid = grid_statistics(FLAGS.config, FLAGS.examples)
  if foreign_modules(ncl_jax):
    sys.exit(f"ncl_jax mixes checkouts: {foreign_modules(ncl_jax)}")
  result = {
    "command": " ".join(["python", "tools/recipe_statistics.py", *sys.argv[1:]]),
    "commit": FLAGS.commit or commit_of(ncl_jax),
    "synthesis": dict(FLAGS.config.dataset.get("synthesis") or {}),
    "manual_dir": FLAGS.config.dataset.get("manual_dir", ""),
    "measured_examples": len(rows),
    "grid_probe": GRID_PROBE,
    "grid_phases": [row["grid_phase"] for row in grid],
    "examples": rows,
  }
  if FLAGS.compare:
    with open(FLAGS.compare) as file:
      reference = json.load(file)
    reference_grid = [{"grid_phase": phase} for phase in reference["grid_phases"]]
    tests = compare(rows, reference["examples"], grid, reference_grid)
    result["compared_with"] = {
      "file": FLAGS.compare,
      "commit": reference["commit"],
      "examples": len(reference["examples"]),
    }
    result["tests"] = [{"measure": m, "group": g, "p_value": p} for m, g, p in tests]
    worst = min(tests, key=lambda t: t[2])
    print(f"lowest p-value {worst[2]:.3g} ({worst[0]}, {worst[1]}) over {len(tests)} tests")
  if FLAGS.output and FLAGS.write_examples:
    write_json(FLAGS.output, result)
  elif FLAGS.output:
    del result["examples"], result["grid_phases"]
    with open(FLAGS.output, "w") as file:
      json.dump(result, file, indent=1)
  if FLAGS.compare and worst[2] < FLAGS.alpha:
    sys.exit(f"the recipe differs: {worst[0]} ({worst[1]}), p = {worst[2]:.3g}")


if __name__ == "__main__":
  define_flags()
  app.run(main)

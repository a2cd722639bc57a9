"""Re-evaluate a checkpoint under perturbations of the image only.

  python -m ncl_jax.robustness --workdir=runs/synthetic [--grid=paper] [--split=test]

Grids: `paper` (NCL Table 3: resize 0.78x and 0.25x, Gaussian blur k=3 and 5,
Gaussian noise sigma=3 and 5, JPEG q=50 and 100), `imdlbenco` (blur kernel
3..23, noise sigma 3..23, JPEG 50..100 step 10), or a custom list such as
`--grid=blur:3,noise:4.5,jpeg:70,resize:0.5` (written as "custom"). Writes
<workdir>/robustness/<dataset>-<split>-<grid>.json (every metric per
perturbation) and a plot of metric vs strength (needs the `viz` extra).
"""

import io

import numpy as np
from absl import app, flags
from PIL import Image
from scipy import ndimage

from ncl_jax import data, paths
from ncl_jax.evaluation.checkpoint import restore_for_evaluation
from ncl_jax.evaluation.loop import evaluate
from ncl_jax.evaluation.targets import split_target
from ncl_jax.serving.restore import read_config
from ncl_jax.training import metric_writers
from ncl_jax.training.devices import DeviceMesh

GRIDS = {
  "paper": [
    ("resize", 0.78),
    ("resize", 0.25),
    ("blur", 3),
    ("blur", 5),
    ("noise", 3),
    ("noise", 5),
    ("jpeg", 50),
    ("jpeg", 100),
  ],
  "imdlbenco": (
    [("blur", k) for k in range(3, 24, 4)]
    + [("noise", s) for s in range(3, 24, 4)]
    + [("jpeg", q) for q in range(50, 101, 10)]
  ),
}


def perturb(kind, strength, image, rng):
  """uint8 [H, W, 3] -> perturbed uint8 image (resize changes its size)."""
  if kind == "resize":
    height, width = image.shape[:2]
    size = (max(1, round(width * strength)), max(1, round(height * strength)))
    return np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))
  if kind == "blur":  # a k x k Gaussian kernel with OpenCV's default sigma for k
    sigma = 0.3 * ((strength - 1) * 0.5 - 1) + 0.8
    radius = (strength - 1) // 2
    return (
      ndimage.gaussian_filter(image.astype(np.float32), (sigma, sigma, 0), truncate=radius / sigma)
      .round()
      .clip(0, 255)
      .astype(np.uint8)
    )
  if kind == "noise":
    noisy = image.astype(np.float32) + rng.normal(0.0, strength, image.shape)
    return noisy.round().clip(0, 255).astype(np.uint8)
  if kind == "jpeg":
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=int(strength))
    return np.asarray(Image.open(buffer).convert("RGB"))
  raise ValueError(f"unknown perturbation {kind!r}")


def perturbation_fn(kind, strength, seed=0):
  """(index, image) -> image, with noise seeded per image so runs repeat exactly."""
  return lambda index, image: perturb(
    kind, strength, image, np.random.default_rng([seed, int(index)])
  )


def parse_grid(text):
  """A grid name, or a custom list "blur:3,noise:4.5,jpeg:70,resize:0.5"."""
  if text in GRIDS:
    return GRIDS[text]
  grid = []
  for item in text.split(","):
    kind, _, strength = item.partition(":")
    if kind not in ("resize", "blur", "noise", "jpeg") or not strength:
      raise ValueError(
        f"perturbation {item!r} is not kind:strength with kind in resize, blur, noise, jpeg"
      )
    grid.append((kind, int(strength) if strength.isdigit() else float(strength)))
  return grid


def evaluate_robustness(config, workdir, grid="paper", split=None, checkpoint=None):
  """(checkpoint step, {label: metrics}) for "none" and every perturbation of the
  grid (see parse_grid) on `split` (default: the test split) of the training dataset."""
  target = split_target(config, split or config.dataset.test_split)
  builder = data.ensure_built_everywhere(target.dataset)
  source = builder.as_data_source(data.built_splits(builder, target.split))
  device_mesh = DeviceMesh()
  step, variables, config, predict = restore_for_evaluation(
    config, workdir, checkpoint, device_mesh
  )
  runs = [("none", None)] + [
    (f"{kind}_{strength}", perturbation_fn(kind, strength, config.seed))
    for kind, strength in parse_grid(grid)
  ]
  results = {
    label: evaluate(
      predict, device_mesh, variables, source, config, desc=label, perturbation=perturbation
    ).metrics
    for label, perturbation in runs
  }
  return step, target, results


def plot(results, path, metric_names=("pixel_f1", "pixel_auc")):
  """Metric vs perturbation strength, one panel per perturbation kind."""
  import matplotlib  # pylint: disable=g-import-not-at-top

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  kinds = sorted({label.split("_")[0] for label in results if label != "none"})
  fig, axes = plt.subplots(1, len(kinds), figsize=(4 * len(kinds), 3.2), squeeze=False)
  for axis, kind in zip(axes[0], kinds):
    labels = [l for l in results if l.startswith(kind + "_")]
    strengths = [float(l.split("_", 1)[1]) for l in labels]
    for metric in metric_names:
      values = [results[l][metric] for l in labels]
      axis.plot(strengths, values, "o-", label=metric)
      axis.axhline(results["none"][metric], linestyle=":", color=axis.lines[-1].get_color())
    axis.set_title(kind)
    axis.set_xlabel("strength")
    axis.legend(fontsize=8)
  fig.tight_layout()
  with paths.resolve(path).open("wb") as file:
    fig.savefig(file, dpi=100, format="png")
  plt.close(fig)


FLAGS = flags.FLAGS


def define_flags():
  """Flags, defined only when run as a program, so the CLI modules import together."""
  flags.DEFINE_string("workdir", None, "The training workdir (its saved config is used).")
  flags.DEFINE_string("grid", "paper", "paper, imdlbenco, or a list like blur:3,jpeg:70.")
  flags.DEFINE_string("split", None, "Split (default: dataset.test_split).")
  flags.DEFINE_string("checkpoint", None, "Step (default: the best).")


def main(argv):
  """Evaluates the workdir's checkpoint under the grid of perturbations; writes JSON and a plot."""
  del argv
  config = read_config(FLAGS.workdir)
  step, target, results = evaluate_robustness(
    config, FLAGS.workdir, FLAGS.grid, FLAGS.split, FLAGS.checkpoint
  )
  grid_name = FLAGS.grid if FLAGS.grid in GRIDS else "custom"
  folder = paths.resolve(FLAGS.workdir) / "robustness"
  stem = f"{target.label}-{grid_name}"
  paths.write_json(
    folder / f"{stem}.json",
    metric_writers.to_jsonable({"checkpoint_step": step, "grid": FLAGS.grid, "results": results}),
    indent=2,
  )
  try:
    plot(results, folder / f"{stem}.png")
  except ImportError:
    print("matplotlib is not installed (pip install -e '.[viz]'): no plot", flush=True)
  for label, result in results.items():
    print(f"{label:>12}: pixel_f1={result['pixel_f1']:.4f} pixel_auc={result['pixel_auc']:.4f}")
  print(f"-> {folder / stem}.json")


if __name__ == "__main__":
  define_flags()
  flags.mark_flag_as_required("workdir")
  app.run(main)

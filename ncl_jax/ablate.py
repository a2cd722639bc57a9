"""The paper's claims as one command: an ablation over seeds, and a sweep of the
hyperparameters the paper does not publish.

  python -m ncl_jax.ablate --config=configs/synthetic.py --workdir=runs/ablation [--seeds=3]
  python -m ncl_jax.ablate --config=configs/synthetic.py --workdir=runs/sweep --sweep

Every variant trains on the same data with the same seeds (seed k sets the
initialization, data order and patch sampling). A run whose test evaluation
exists is not trained again, and an interrupted run resumes from its checkpoint.
Writes <workdir>/ablation.{json,md} (mean and standard deviation over seeds of
test pixel F1, best-threshold F1, pixel AUC and image AUC) or sweep.{json,md}
(validation metrics, one hyperparameter varied at a time around the config).
"""

import numpy as np
from absl import app, flags
from ml_collections import config_flags

from ncl_jax import paths
from ncl_jax.evaluation.targets import eval_json_path, eval_label
from ncl_jax.training import train

# name -> (description, overrides)
VARIANTS = {
  "seg_bce": ("segmentation only, plain BCE", {"ncl.weight": 0.0, "pc.mode": "bce"}),
  "seg_pc": ("segmentation, pivot-consistent loss", {"ncl.weight": 0.0}),
  "drop": ("contrastive, contour patches dropped", {"ncl.contour_role": "drop"}),
  "positive": ("contour as hard positive only", {"ncl.contour_role": "positive"}),
  "negative": ("contour as hard negative only", {"ncl.contour_role": "negative"}),
  "alternate": ("one role per step", {"ncl.contour_role": "alternate"}),
  "switch": ("full NCL (both roles, the paper)", {"ncl.contour_role": "switch"}),
}
SWEEP = {
  "ncl.temperature": (0.05, 0.1, 0.2, 0.5),
  "ncl.weight": (0.03, 0.1, 0.3, 1.0),
  "pc.mu": (0.5, 0.7, 0.9),
  "patch_size": (8, 16, 32),
  "ncl.max_contour_patches": (4, 16, 32),
}
METRICS = ("pixel_f1", "pixel_f1_best", "pixel_auc", "image_auc")


def _parent_and_leaf(config, key):
  """("a.b.c") -> (config.a.b, "c")."""
  *parents, leaf = key.split(".")
  for parent in parents:
    config = config[parent]
  return config, leaf


def with_overrides(config, overrides):
  """A copy of `config` with {"section.key": value} overrides set."""
  config = config.copy_and_resolve_references()
  for key, value in overrides.items():
    target, leaf = _parent_and_leaf(config, key)
    target[leaf] = value
  return config


def run_once(config, workdir, split):
  """Metrics of one run on `split`, training it unless its evaluation exists."""
  path = eval_json_path(workdir, eval_label(config.dataset.name, split))
  if not path.exists():
    config.dataset.test_split = split
    train.train_and_evaluate(config, workdir)
  return paths.read_json(path)


def summarize(runs):
  """{metric: (mean, std over runs)}; std is 0 for a single run."""
  return {
    m: (float(np.mean([r[m] for r in runs])), float(np.std([r[m] for r in runs]))) for m in METRICS
  }


def ablation(config, workdir, seeds, variants=tuple(VARIANTS)):
  """{variant: metrics over seeds} of every variant, training the runs not yet done."""
  results = {}
  for name in variants:
    description, overrides = VARIANTS[name]
    runs = [
      run_once(
        with_overrides(config, {**overrides, "seed": seed}),
        paths.resolve(workdir) / name / f"seed{seed}",
        "test",
      )
      for seed in range(seeds)
    ]
    results[name] = {
      "description": description,
      "overrides": overrides,
      "runs": [{m: r[m] for m in METRICS} for r in runs],
      "summary": summarize(runs),
    }
  return results


def sweep(config, workdir, seed=0, grid=None):
  """{"key=value": validation metrics} over `grid` (default SWEEP). A value equal
  to the config's own is the same run for every key: it is trained once, in
  `<workdir>/base`, and its rows are marked " (config)"."""
  results = {}
  for key, values in (grid or SWEEP).items():
    target, leaf = _parent_and_leaf(config, key)
    for value in values:
      is_base = target[leaf] == value
      name = f"{key}={value}" + (" (config)" if is_base else "")
      run = run_once(
        with_overrides(config, {key: value, "seed": seed}),
        paths.resolve(workdir) / ("base" if is_base else f"{key}={value}"),
        config.dataset.eval_split,
      )
      results[name] = {m: run[m] for m in METRICS}
  return results


def _table_header(first_column: str) -> list:
  return [f"| {first_column} | {' | '.join(METRICS)} |", "|---" * (len(METRICS) + 1) + "|"]


def ablation_table(results, seeds) -> str:
  """The ablation as a Markdown table (mean and standard deviation over seeds)."""
  lines = _table_header("variant")
  for name, result in results.items():
    cells = [f"{mean:.3f} ± {std:.3f}" for mean, std in result["summary"].values()]
    lines.append(f"| {name}: {result['description']} | {' | '.join(cells)} |")
  return "\n".join(lines) + f"\n\nMean ± standard deviation over {seeds} seed(s), test split.\n"


def sweep_table(results) -> str:
  """The sweep as a Markdown table (validation metrics per setting)."""
  lines = _table_header("setting")
  lines += [
    f"| {name} | {' | '.join(f'{v:.3f}' for v in row.values())} |" for name, row in results.items()
  ]
  return "\n".join(lines) + "\n\nValidation split, one seed, one setting varied at a time.\n"


FLAGS = flags.FLAGS


def define_flags():
  """Flags, defined only when run as a program, so the CLI modules import together."""
  config_flags.DEFINE_config_file("config", None, "The base config.")
  flags.DEFINE_string("workdir", None, "Where the runs and the tables go.")
  flags.DEFINE_integer("seeds", 3, "Seeds per variant.")
  flags.DEFINE_list("variants", list(VARIANTS), "Which variants (default: all).")
  flags.DEFINE_bool("sweep", False, "Sweep the unpublished hyperparameters instead.")
  flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  """Runs the ablation (or the sweep) and writes its JSON and Markdown table."""
  del argv
  if FLAGS.sweep:
    results, name = sweep(FLAGS.config, FLAGS.workdir), "sweep"
    table = sweep_table(results)
  else:
    results, name = ablation(FLAGS.config, FLAGS.workdir, FLAGS.seeds, FLAGS.variants), "ablation"
    table = ablation_table(results, FLAGS.seeds)
  paths.write_json(paths.resolve(FLAGS.workdir) / f"{name}.json", results, indent=2)
  (paths.resolve(FLAGS.workdir) / f"{name}.md").write_text(table)
  print(table)


if __name__ == "__main__":
  define_flags()
  app.run(main)

r"""The input pipeline's images/s per core, this checkout against an older one,
in one run, and where each one's time goes.

  python benchmarks/feeding.py --old=OLD_CHECKOUT --photos=PHOTOS \
      --output=benchmarks/cpu_feeding.json

For each pipeline (PIPELINES: the photos recipe at the accelerator settings,
on scikit-image's bundled photos and on a folder of photos; the photos recipe at
its CPU settings; a CASIA-like benchmark of JPEGs of 256-1024 px with PNG masks,
built as ArrayRecord, at 512 px), each checkout runs, in turn and `--rounds`
times, the command the Feeding issue names, pinned to one core:

  taskset -c 0 python -m ncl_jax.benchmark --config=configs/photos.py [pipeline flags]
      --config.input.num_workers=0 --config.input.num_threads=1 --pipeline_batches=N

(the old checkout, installed on its own, also times two train steps after the
pipeline; this one skips them with --pipeline_only). The JSON has every round's
`input_pipeline_images_per_second`, the medians and their ratio, this checkout's
images/s with one grain worker process per core on all cores, and both
checkouts' milliseconds per image per stage (ncl_jax.input.stage_profile,
applied to the old checkout's modules too).
"""

import argparse
import importlib.util
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
NEW = HERE.parent
ACCELERATOR = ["--config.dataset.synthesis.camera_long_side=(512, 2048)"]
# name -> (flags for configs/photos.py, whether it reads --photos, whether it is the benchmark set)
PIPELINES = {
  "photos, accelerator settings, bundled photos": (ACCELERATOR, False, False),
  "photos, accelerator settings, photo folder": (ACCELERATOR, True, False),
  "photos, CPU settings, photo folder": ([], True, False),
  "CASIA-like ArrayRecord, 512 px": (
    ["--config.dataset.name=iml_folder", "--config.dataset.train_split=full"],
    False,
    True,
  ),
}


def make_casia_like(folder: pathlib.Path, count: int = 200, seed: int = 0) -> pathlib.Path:
  """An IMDL-BenCo folder (Tp/*.jpg, Gt/*.png) of `count` JPEGs of 256-1024 px cut
  from scikit-image's photos, with polygon masks; returns the folder."""
  import cv2  # pylint: disable=g-import-not-at-top
  import numpy as np
  import skimage.data
  from PIL import Image

  rng = np.random.default_rng(seed)
  photos = [
    skimage.data.astronaut(),
    skimage.data.coffee(),
    skimage.data.chelsea(),
    skimage.data.rocket(),
  ]
  (folder / "Tp").mkdir(parents=True, exist_ok=True)
  (folder / "Gt").mkdir(parents=True, exist_ok=True)
  for index in range(count):
    long_side = int(rng.integers(256, 1025))
    aspect = float(rng.uniform(0.66, 1.5))
    size = (long_side, max(64, int(long_side / aspect)))
    image = cv2.resize(photos[index % len(photos)], size, interpolation=cv2.INTER_CUBIC)
    mask = np.zeros(image.shape[:2], np.uint8)
    points = rng.uniform(0.2, 0.8, (6, 2)) * np.array(size)
    cv2.fillPoly(mask, [points.astype(np.int32)], 255)
    Image.fromarray(image).save(
      folder / "Tp" / f"Tp_{index:04d}.jpg", quality=int(rng.integers(75, 96))
    )
    Image.fromarray(mask).save(folder / "Gt" / f"Tp_{index:04d}_gt.png")
  return folder


def pipeline_flags(name, photos, casia, data_dir):
  """configs/photos.py flags of a pipeline (`data_dir`: where a benchmark set is built)."""
  flags, reads_photos, is_casia = PIPELINES[name]
  flags = list(flags)
  if reads_photos:
    flags.append(f"--config.dataset.manual_dir={photos}")
  if is_casia:
    flags += [f"--config.dataset.manual_dir={casia}", f"--config.dataset.data_dir={data_dir}"]
  return flags


class Checkout:
  """A checkout of the package to run: its folder, and a folder with its own
  install (the older one is installed on its own, so that nothing it lacks is
  lent by an editable install of this one) and its configs."""

  def __init__(self, folder, scratch=None):
    self.folder = pathlib.Path(folder).resolve()
    self.old = scratch is not None
    if not self.old:
      self.cwd = self.pythonpath = self.folder
      return
    self.pythonpath, self.cwd = scratch / "old_site", scratch / "old_run"
    subprocess.run(
      [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation"]
      + ["--target", str(self.pythonpath), str(self.folder)],
      check=True,
    )
    self.cwd.mkdir()
    (self.cwd / "configs").symlink_to(self.folder / "configs")

  def env(self):
    """The environment its programs run in."""
    return {**os.environ, "PYTHONPATH": str(self.pythonpath), "JAX_PLATFORMS": "cpu"}

  def run(self, command):
    """Runs `command` in the checkout; RuntimeError with its output if it fails."""
    done = subprocess.run(command, cwd=self.cwd, env=self.env(), capture_output=True, text=True)
    if done.returncode:
      raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def images_per_second(checkout, flags, batches, cores="0", workers=0, threads=1):
  """input_pipeline_images_per_second of ncl_jax.benchmark in `checkout`."""
  with tempfile.TemporaryDirectory() as scratch:
    output = os.path.join(scratch, "benchmark.json")
    command = [
      "taskset",
      "-c",
      cores,
      sys.executable,
      "-m",
      "ncl_jax.benchmark",
      "--config=configs/photos.py",
      *flags,
      f"--config.input.num_workers={workers}",
      f"--config.input.num_threads={threads}",
      f"--pipeline_batches={batches}",
      f"--output={output}",
    ]
    command += ["--steps=1", "--warmup=0"] if checkout.old else ["--pipeline_only"]
    checkout.run(command)
    result = json.loads(pathlib.Path(output).read_text())
  result = result[0] if isinstance(result, list) else result
  if result["input_pipeline_images_per_second"] is None:
    raise RuntimeError(f"{' '.join(command)}: {result.get('input_pipeline_error')}")
  return result["input_pipeline_images_per_second"]


def stage_profile(checkout, flags, examples):
  """Milliseconds per image of each stage, in `checkout`, on one core."""
  command = ["taskset", "-c", "0", sys.executable, str(pathlib.Path(__file__).resolve())]
  command += ["--profile_child", str(examples), "--", *flags]
  return json.loads(checkout.run(command).strip().splitlines()[-1])


def load_from_this_checkout(relative: str):
  """A module of this checkout loaded from its file, whichever ncl_jax is imported."""
  spec = importlib.util.spec_from_file_location(pathlib.Path(relative).stem, NEW / relative)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def profile_child(examples, flags):
  """In a checkout's environment: its per-stage profile, as one JSON line."""
  from absl import flags as absl_flags  # pylint: disable=g-import-not-at-top
  from ml_collections import config_flags

  sys.path.insert(0, os.getcwd())
  config_flags.DEFINE_config_file("config", "configs/photos.py", "")
  absl_flags.FLAGS(["feeding", *flags])
  config = absl_flags.FLAGS.config
  profiler = load_from_this_checkout("ncl_jax/input/stage_profile.py")
  statistics_tool = load_from_this_checkout("tools/recipe_statistics.py")
  import ncl_jax  # pylint: disable=g-import-not-at-top
  from ncl_jax import data

  try:  # checkouts before the input package; tried first, since an editable
    # install of this checkout would otherwise lend them its ncl_jax.input
    from ncl_jax import input_pipeline  # pylint: disable=g-import-not-at-top

    stages = tuple(
      (stage, module.replace("ncl_jax.input.input_pipeline", "ncl_jax.input_pipeline"), function)
      for stage, module, function in profiler.STAGES
    )
  except ImportError:
    from ncl_jax.input import input_pipeline  # pylint: disable=g-import-not-at-top

    stages = profiler.STAGES
  builder = data.ensure_built(config.dataset, log=lambda *_: None)
  source = builder.as_data_source(config.dataset.train_split)
  preprocess = input_pipeline.TrainPreprocess(
    config.image_size, config.input.train_crop, config.input.random_flip, "resize"
  )
  profile = profiler.profile_pipeline(source, preprocess, examples, stages=stages)
  assert not statistics_tool.foreign_modules(ncl_jax), statistics_tool.foreign_modules(ncl_jax)
  print(json.dumps(profile))


def main():
  """Runs every pipeline in both checkouts and writes the JSON."""
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--old", required=True, help="The older checkout (a git worktree).")
  parser.add_argument("--photos", required=True, help="A photo folder.")
  parser.add_argument("--rounds", type=int, default=2)
  parser.add_argument("--batches", type=int, default=100)
  parser.add_argument("--profile_examples", type=int, default=300)
  parser.add_argument("--output", required=True)
  parser.add_argument("--only", default="", help="Run only the pipelines whose name has this.")
  args = parser.parse_args()
  scratch = pathlib.Path(tempfile.mkdtemp())
  old, new = Checkout(args.old, scratch), Checkout(NEW)
  casia = make_casia_like(scratch / "casia_like")
  results = []
  for name in [n for n in PIPELINES if args.only in n]:
    # Each checkout builds the benchmark set its own way, in a folder of its own.
    flags = {
      which: pipeline_flags(name, args.photos, casia, scratch / f"tfds_{which}")
      for which in ("old", "new")
    }
    rounds = {"old": [], "new": []}
    for _ in range(args.rounds):
      rounds["old"].append(images_per_second(old, flags["old"], args.batches))
      rounds["new"].append(images_per_second(new, flags["new"], args.batches))
    cores = os.cpu_count()
    all_cores = images_per_second(new, flags["new"], args.batches, f"0-{cores - 1}", workers=cores)
    old_median, new_median = (statistics.median(rounds[k]) for k in ("old", "new"))
    results.append(
      {
        "pipeline": name,
        "flags": [
          f.replace(str(scratch), "SCRATCH").replace(str(args.photos), "PHOTOS")
          for f in flags["new"]
        ],
        "images_per_second_per_core": {"old": rounds["old"], "new": rounds["new"]},
        "median_per_core": {"old": old_median, "new": new_median},
        "speedup": new_median / old_median,
        "all_cores": {"cores": cores, "workers": cores, "images_per_second": all_cores},
        "stage_ms_per_image": {
          "old": stage_profile(old, flags["old"], args.profile_examples),
          "new": stage_profile(new, flags["new"], args.profile_examples),
        },
      }
    )
    print(json.dumps(results[-1]), flush=True)
    write(args.output, results, args, old)


def write(path, results, args, old):
  """The JSON: provenance, the older checkout's commit, and the pipelines so far
  (written after each one, so a run cut short keeps what it measured)."""
  sys.path.insert(0, str(NEW))
  from ncl_jax.provenance import provenance  # pylint: disable=g-import-not-at-top

  record = provenance()
  record["old_commit"] = subprocess.check_output(
    ["git", "-C", str(old.folder), "rev-parse", "HEAD"], text=True
  ).strip()
  record["command"] = (
    record["command"].replace(str(args.photos), "PHOTOS").replace(str(args.old), "OLD_CHECKOUT")
  )
  record.update(rounds=args.rounds, pipeline_batches=args.batches)
  pathlib.Path(path).write_text(json.dumps({**record, "pipelines": results}, indent=1) + "\n")


if __name__ == "__main__":
  if "--profile_child" in sys.argv:
    position = sys.argv.index("--profile_child")
    profile_child(int(sys.argv[position + 1]), sys.argv[sys.argv.index("--") + 1 :])
  else:
    main()

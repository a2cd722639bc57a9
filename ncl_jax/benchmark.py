"""Speed and memory of a config on the available devices, as JSON.

  python -m ncl_jax.benchmark --config=configs/default.py [--steps=20] [--output=bench.json]
  python -m ncl_jax.benchmark --config=configs/default.py --sweep=8,16,32

Reports device kind and count, image size, global batch, compile seconds, train
images/s (median over timed steps after warm-up), model TFLOPs per image (XLA's
cost analysis of the lowered train step, the same on every backend), achieved
TFLOP/s and MFU against the device's peak, peak device memory, eval images/s,
input-pipeline images/s alone (with its worker count) and the contrastive loss's
share of the step time.
Steps run on random images with rectangle masks, so only the input-pipeline
figure reads the dataset.

With --pipeline_only, the input pipeline alone (images/s on the cores the process
may use: `taskset -c 0 ...` for one core), and with --profile_examples=N the
milliseconds per image of each of its stages (ncl_jax.input.stage_profile):

  taskset -c 0 python -m ncl_jax.benchmark --config=configs/photos.py \
      --config.input.num_workers=0 --config.input.num_threads=1 \
      --pipeline_only --pipeline_batches=100 --profile_examples=300

The same network against PyTorch: benchmarks/compare_torch.py.
"""

import json
import os
import statistics
import time

import jax
import numpy as np
from absl import app, flags, logging
from ml_collections import config_flags

from ncl_jax import data, paths
from ncl_jax.config_schema import validate_config
from ncl_jax.input import input_pipeline, stage_profile
from ncl_jax.provenance import provenance
from ncl_jax.training import train
from ncl_jax.training.state import StateFactory

# Dense bf16 peak TFLOP/s per device, for MFU. Unknown devices (the CPU) get none.
PEAK_TFLOPS = {
  "h100": 989.0,
  "h200": 989.0,
  "a100": 312.0,
  "l4": 121.0,
  "tpu v4": 275.0,
  "tpu v5 lite": 197.0,
  "tpu v5e": 197.0,
  "tpu v5p": 459.0,
  "tpu v6 lite": 918.0,
}


def peak_tflops(device_kind: str):
  """The device's dense bfloat16 peak TFLOP/s, or None for an unknown device."""
  kind = device_kind.lower()
  return next((peak for name, peak in PEAK_TFLOPS.items() if name in kind), None)


def model_name(model_config) -> str:
  """ "resnet<depth> width <w> os<stride>", how the JSONs name a network."""
  return f"resnet{model_config.depth} width {model_config.width} os{model_config.output_stride}"


def random_batch(config, seed=0):
  """A training batch of random images with one rectangle mask each."""
  rng = np.random.default_rng(seed)
  size, batch = config.image_size, config.batch_size
  mask = np.zeros((batch, size, size), np.uint8)
  for b in range(batch):
    top, left = rng.integers(0, size // 2, 2)
    mask[b, top : top + size // 3, left : left + size // 3] = b % 4 != 0
  image = rng.normal(size=(batch, size, size, 3)).astype(np.float32)
  return {"image": image, "mask": mask}


def lowered_flops(lowered) -> float:
  """FLOPs of a lowered (not yet optimized) computation, by XLA's cost analysis.

  The lowered count is the same on every backend; a compiled one's is not (on GPUs,
  convolutions become cuDNN custom calls that it counts as 0). Backends behind a
  PJRT plugin (CUDA) do not implement the lowered analysis, so the same HLO is then
  counted by the CPU backend's, which every jax installation has.
  """
  cost = lowered.cost_analysis()
  if cost is None:
    # pylint: disable=g-import-not-at-top  # private, the only way to the CPU's analysis
    import jax.extend
    from jax._src.lib import _jax

    cost = _jax.hlo_module_cost_analysis(
      jax.extend.backend.get_backend("cpu"), lowered.compiler_ir("hlo").as_hlo_module()
    )
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float((cost or {}).get("flops", float("nan")))


class StepTimer:
  """The compiled train step and prediction of `config` on one fixed random batch."""

  def __init__(self, config):
    runtime = train.Runtime(config, StateFactory(config))
    self.state = runtime.init_state(config.seed)
    self.host_batch = random_batch(config)
    self.batch = {k: runtime.mesh.shard(v) for k, v in self.host_batch.items()}
    start = time.perf_counter()
    lowered = runtime.train_step.lower(self.state, self.batch)
    self.compiled = lowered.compile()
    self.compile_seconds = time.perf_counter() - start
    self.flops_per_step = lowered_flops(lowered)
    self.predict = runtime.predict

  def step(self) -> float:
    """Seconds of one training step (waits for its result)."""
    start = time.perf_counter()
    self.state, metrics = self.compiled(self.state, self.batch)
    jax.block_until_ready(metrics["loss"])
    return time.perf_counter() - start

  def forward(self) -> float:
    """Seconds of one prediction of the batch (compiled on first use)."""
    start = time.perf_counter()
    jax.block_until_ready(self.predict(self.state.variables, self.batch["image"]))
    return time.perf_counter() - start


def measure_train(config, steps, warmup):
  """Compile time, step time and FLOPs of the train step of `config`."""
  timer = StepTimer(config)
  seconds = statistics.median([timer.step() for _ in range(warmup + steps)][warmup:])
  eval_seconds = statistics.median([timer.forward() for _ in range(warmup + steps)][warmup:])
  return {
    "compile_seconds": timer.compile_seconds,
    "step_seconds": seconds,
    "flops_per_step": timer.flops_per_step,
    "eval_seconds": eval_seconds,
  }


def parameter_count(config, exclude=()):
  """The model's parameter count, leaving out top-level modules named in `exclude`."""
  shapes = jax.eval_shape(StateFactory(config).init_variables, jax.random.PRNGKey(0))["params"]
  return sum(
    int(np.prod(x.shape))
    for name, subtree in shapes.items()
    if not name.startswith(exclude)
    for x in jax.tree.leaves(subtree)
  )


def training_source(config):
  """The config's training data source (built first where it needs to be)."""
  builder = data.ensure_built(config.dataset, log=lambda *_: None)
  return builder.as_data_source(config.dataset.train_split)


def measure_input_pipeline(config, batches, source=None):
  """Images/s of the training input pipeline alone (decode, resize, flip, batch)."""
  source = training_source(config) if source is None else source
  iterator = iter(input_pipeline.create_train_dataset(source, config))
  next(iterator)
  start = time.perf_counter()
  for _ in range(batches):
    next(iterator)
  return batches * config.batch_size / (time.perf_counter() - start)


def benchmark_input_pipeline(config, batches, profile_examples=0) -> dict:
  """The input pipeline alone, as a dict: its images/s with the config's workers
  and threads on the cores this process may use, and, with `profile_examples`,
  the milliseconds per image of each of its stages (one example at a time)."""
  source = training_source(config)
  result = {
    "input_pipeline_images_per_second": measure_input_pipeline(config, batches, source),
    "input_pipeline_workers": config.input.num_workers,
    "input_pipeline_threads": config.input.num_threads,
    "cores_used": len(os.sched_getaffinity(0)),
    "pipeline_batches": batches,
    "image_size": config.image_size,
    "global_batch": config.batch_size,
    "dataset": config.dataset.name,
  }
  if profile_examples:
    preprocess = input_pipeline.train_preprocess(config)
    result["profiled_examples"] = profile_examples
    result["stage_ms_per_image"] = stage_profile.profile_pipeline(
      source, preprocess, profile_examples
    )
  return {**result, **provenance()}


def benchmark(config, steps=10, warmup=2, pipeline_batches=20) -> dict:
  """Speed and memory of `config` on the available devices, as a dict (see the module)."""
  device = jax.devices()[0]
  try:  # first, so worker processes start before the accelerator is in use
    pipeline = {
      "input_pipeline_images_per_second": measure_input_pipeline(config, pipeline_batches)
    }
  except Exception as error:  # pylint: disable=broad-except  # the step figures still count
    logging.exception("input pipeline benchmark failed")
    pipeline = {
      "input_pipeline_images_per_second": None,
      "input_pipeline_error": f"{type(error).__name__}: {error}",
    }
  full = measure_train(config, steps, warmup)
  weight = config.ncl.weight
  with config.unlocked():
    config.ncl.weight = 0.0
  without_ncl = measure_train(config, steps, warmup)
  with config.unlocked():
    config.ncl.weight = weight
  batch = config.batch_size
  images_per_second = batch / full["step_seconds"]
  achieved = full["flops_per_step"] / full["step_seconds"] / 1e12
  peak = peak_tflops(device.device_kind)
  memory = device.memory_stats() or {} if hasattr(device, "memory_stats") else {}
  return {
    "device_kind": device.device_kind,
    "platform": device.platform,
    "device_count": jax.device_count(),
    "process_count": jax.process_count(),
    "image_size": config.image_size,
    "global_batch": batch,
    "dtype": config.model.dtype,
    "model": model_name(config.model),
    "compile_seconds": round(full["compile_seconds"], 3),
    "step_seconds_median": full["step_seconds"],
    "train_images_per_second": images_per_second,
    "model_tflops_per_image": full["flops_per_step"] / batch / 1e12,
    "achieved_tflops_per_second": achieved,
    "peak_tflops_per_second": peak * jax.device_count() if peak else None,
    "mfu": achieved / (peak * jax.device_count()) if peak else None,
    "peak_memory_bytes": memory.get("peak_bytes_in_use"),
    "eval_images_per_second": batch / full["eval_seconds"],
    **pipeline,
    "input_pipeline_workers": config.input.num_workers,
    "input_pipeline_threads": config.input.num_threads,
    "contrastive_share_of_step": max(0.0, 1.0 - without_ncl["step_seconds"] / full["step_seconds"]),
    "timed_steps": steps,
    "warmup_steps": warmup,
    **provenance(),
  }


FLAGS = flags.FLAGS


def define_flags():
  """Flags, defined only when run as a program, so the CLI modules import together."""
  config_flags.DEFINE_config_file("config", None, "Config file to benchmark.")
  flags.DEFINE_integer("steps", 10, "Timed steps (after warm-up).")
  flags.DEFINE_integer("warmup", 2, "Untimed steps first.")
  flags.DEFINE_integer("pipeline_batches", 20, "Batches timed for the input pipeline.")
  flags.DEFINE_bool("pipeline_only", False, "Time the input pipeline alone, not the model.")
  flags.DEFINE_integer(
    "profile_examples", 0, "With --pipeline_only: the time per stage over this many examples."
  )
  flags.DEFINE_string("sweep", "", "Comma-separated global batch sizes to run instead.")
  flags.DEFINE_string("output", "benchmark.json", "Where the JSON goes.")
  flags.mark_flags_as_required(["config"])


def main(argv):
  """Benchmarks the config (or each batch size of --sweep) and writes the JSON."""
  del argv
  config = FLAGS.config
  sizes = [int(s) for s in FLAGS.sweep.split(",") if s] or [config.batch_size]
  runs = []
  for size in sizes:
    with config.unlocked():
      config.batch_size = config.eval_batch_size = size
    validate_config(config)
    if FLAGS.pipeline_only:
      runs.append(benchmark_input_pipeline(config, FLAGS.pipeline_batches, FLAGS.profile_examples))
    else:
      runs.append(benchmark(config, FLAGS.steps, FLAGS.warmup, FLAGS.pipeline_batches))
    print(json.dumps(runs[-1], indent=2), flush=True)
    # Written after every run: a sweep cut short keeps what it measured.
    paths.write_json(FLAGS.output, runs if FLAGS.sweep else runs[0], indent=2)
  print(f"-> {FLAGS.output}")


if __name__ == "__main__":
  define_flags()
  app.run(main)

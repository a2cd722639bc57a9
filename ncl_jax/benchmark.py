"""Speed and memory of a config on the available devices, as JSON.

  python -m ncl_jax.benchmark --config=configs/default.py [--steps=20] [--output=bench.json]
  python -m ncl_jax.benchmark --config=configs/default.py --sweep=8,16,32

Reports device kind and count, image size, global batch, compile seconds, train
images/s (median over timed steps after warm-up), model TFLOPs per image (XLA's
cost analysis of the compiled train step), achieved TFLOP/s and MFU against the
device's peak, peak device memory, eval images/s, input-pipeline images/s alone
(with its worker count) and the contrastive loss's share of the step time.
Steps run on random images with rectangle masks, so only the input-pipeline
figure reads the dataset.
"""
import json
import statistics
import time

import jax
import numpy as np
from absl import app, flags
from ml_collections import config_flags

from ncl_jax import data, input_pipeline, train
from ncl_jax.config_validation import validate_config
from ncl_jax.state import StateFactory

# Dense bf16 peak TFLOP/s per device, for MFU. Unknown devices (the CPU) get none.
PEAK_TFLOPS = {"h100": 989.0, "h200": 989.0, "a100": 312.0, "l4": 121.0, "tpu v4": 275.0,
               "tpu v5 lite": 197.0, "tpu v5e": 197.0, "tpu v5p": 459.0, "tpu v6 lite": 918.0}


def peak_tflops(device_kind: str):
  kind = device_kind.lower()
  return next((peak for name, peak in PEAK_TFLOPS.items() if name in kind), None)


def random_batch(config, seed=0):
  rng = np.random.default_rng(seed)
  size, batch = config.image_size, config.batch_size
  mask = np.zeros((batch, size, size), np.uint8)
  for b in range(batch):
    top, left = rng.integers(0, size // 2, 2)
    mask[b, top:top + size // 3, left:left + size // 3] = b % 4 != 0
  image = rng.normal(size=(batch, size, size, 3)).astype(np.float32)
  return {"image": image, "mask": mask}


def _time_calls(function, args_fn, steps, warmup):
  """Median seconds of `function(*args_fn())` over `steps` after `warmup`; waits on results."""
  times = []
  for index in range(warmup + steps):
    args = args_fn()
    start = time.perf_counter()
    jax.block_until_ready(function(*args))
    if index >= warmup:
      times.append(time.perf_counter() - start)
  return statistics.median(times)


def measure_train(config, steps, warmup):
  """Compile time, step time and FLOPs of the train step of `config`."""
  runtime = train.Runtime(config, StateFactory(config))
  state = runtime.init_state(config.seed)
  host = random_batch(config)
  batch = {k: runtime.mesh.shard(v) for k, v in host.items()}
  start = time.perf_counter()
  compiled = runtime.train_step.lower(state, batch).compile()
  compile_seconds = time.perf_counter() - start
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  holder = {"state": state}

  def step():
    holder["state"], metrics = compiled(holder["state"], batch)
    return metrics["loss"]
  seconds = _time_calls(step, lambda: (), steps, warmup)
  eval_seconds = _time_calls(runtime.predict,
                             lambda: (holder["state"].variables, batch["image"]), steps, warmup)
  return {"compile_seconds": compile_seconds, "step_seconds": seconds,
          "flops_per_step": float((cost or {}).get("flops", float("nan"))),
          "eval_seconds": eval_seconds}


def measure_input_pipeline(config, batches):
  """Images/s of the training input pipeline alone (decode, resize, flip, batch)."""
  builder = data.ensure_built(config.dataset, log=lambda *_: None)
  iterator = iter(input_pipeline.create_train_dataset(
      builder.as_data_source(config.dataset.train_split), config))
  next(iterator)
  start = time.perf_counter()
  for _ in range(batches):
    next(iterator)
  return batches * config.batch_size / (time.perf_counter() - start)


def benchmark(config, steps=10, warmup=2, pipeline_batches=20) -> dict:
  device = jax.devices()[0]
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
      "device_kind": device.device_kind, "platform": device.platform,
      "device_count": jax.device_count(), "process_count": jax.process_count(),
      "image_size": config.image_size, "global_batch": batch, "dtype": config.model.dtype,
      "model": f"resnet{config.model.depth} width {config.model.width} os{config.model.output_stride}",
      "compile_seconds": round(full["compile_seconds"], 3),
      "step_seconds_median": full["step_seconds"],
      "train_images_per_second": images_per_second,
      "model_tflops_per_image": full["flops_per_step"] / batch / 1e12,
      "achieved_tflops_per_second": achieved,
      "peak_tflops_per_second": peak * jax.device_count() if peak else None,
      "mfu": achieved / (peak * jax.device_count()) if peak else None,
      "peak_memory_bytes": memory.get("peak_bytes_in_use"),
      "eval_images_per_second": batch / full["eval_seconds"],
      "input_pipeline_images_per_second": measure_input_pipeline(config, pipeline_batches),
      "input_pipeline_workers": config.input.num_workers,
      "input_pipeline_threads": config.input.num_threads,
      "contrastive_share_of_step": max(0.0, 1.0 - without_ncl["step_seconds"]
                                       / full["step_seconds"]),
      "timed_steps": steps, "warmup_steps": warmup,
  }


FLAGS = flags.FLAGS


def define_flags():
  """Flags, defined only when run as a program, so the CLI modules import together."""
  config_flags.DEFINE_config_file("config", None, "Config file to benchmark.")
  flags.DEFINE_integer("steps", 10, "Timed steps (after warm-up).")
  flags.DEFINE_integer("warmup", 2, "Untimed steps first.")
  flags.DEFINE_integer("pipeline_batches", 20, "Batches timed for the input pipeline.")
  flags.DEFINE_string("sweep", "", "Comma-separated global batch sizes to run instead.")
  flags.DEFINE_string("output", "benchmark.json", "Where the JSON goes.")
  flags.mark_flags_as_required(["config"])


def main(argv):
  del argv
  config = FLAGS.config
  sizes = [int(s) for s in FLAGS.sweep.split(",") if s] or [config.batch_size]
  runs = []
  for size in sizes:
    with config.unlocked():
      config.batch_size = config.eval_batch_size = size
    validate_config(config)
    runs.append(benchmark(config, FLAGS.steps, FLAGS.warmup, FLAGS.pipeline_batches))
    print(json.dumps(runs[-1], indent=2), flush=True)
  with open(FLAGS.output, "w", encoding="utf-8") as file:
    json.dump(runs if FLAGS.sweep else runs[0], file, indent=2)
  print(f"-> {FLAGS.output}")


if __name__ == "__main__":
  define_flags()
  app.run(main)

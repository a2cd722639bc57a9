"""Training of NCL: `train_and_evaluate(config, workdir)`.

The loop runs `jax.jit`-compiled steps over a one-axis device mesh ("data"):
parameters and optimizer state replicated, batches sharded on the batch axis.
A step reads input -> patches -> model -> objective -> update (see train_step).
"""

import collections
import functools
import json
import math
import signal
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.experimental import multihost_utils
from tqdm import tqdm

from ncl_jax import data, synthesis
from ncl_jax.config_schema import ConfigError, validate_config
from ncl_jax.evaluation import checkpoint as checkpoint_evaluation
from ncl_jax.evaluation import loop as evaluation
from ncl_jax.evaluation import targets as targets_lib
from ncl_jax.input import input_pipeline
from ncl_jax.method import objective
from ncl_jax.models import conv
from ncl_jax.normalization import NORMALIZED_VALUES
from ncl_jax.serving.restore import BEST_METRIC
from ncl_jax.training import checkpointing, metric_writers, preemption
from ncl_jax.training.devices import DeviceMesh
from ncl_jax.training.optimizer import create_learning_rate_schedule
from ncl_jax.training.state import StateFactory, TrainState

# Step t's randomness is fold_in(state.rng, t): the patch sampling uses that key,
# dropout a key folded from it with this number, so a resumed run replays both.
DROPOUT_STREAM = 1


def model_images(images):
  """[b, H, W, 3] uint8 pixels -> float32 ImageNet-normalized, by table lookup on
  the device (the numbers the host's normalization gives); float images are
  taken as already normalized."""
  if images.dtype != jnp.uint8:
    return images
  return jnp.asarray(NORMALIZED_VALUES)[jnp.arange(3), images.astype(jnp.int32)]


def train_step(state: TrainState, batch, *, model, tx, config, mesh=None):
  """One optimizer step. batch: image [b, H, W, 3] uint8 pixels (or float32
  normalized), mask [b, H, W] uint8."""
  step_rng = jax.random.fold_in(state.rng, state.step)
  images = model_images(batch["image"])
  targets = objective.make_targets(batch["mask"], step_rng, config)

  def loss_fn(params):
    outputs, updates = model.apply(
      {"params": params, "batch_stats": state.batch_stats},
      images,
      *objective.pivot_inputs(targets),
      train=True,
      mutable=["batch_stats"],
      rngs={"dropout": jax.random.fold_in(step_rng, DROPOUT_STREAM)},
    )
    terms = objective.compute_loss(outputs, targets, config, state.step, mesh)
    return terms["loss"], (terms, updates["batch_stats"], outputs["logits"])

  grads, (terms, batch_stats, logits) = jax.grad(loss_fn, has_aux=True)(state.params)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  terms["grad_norm"] = optax.global_norm(grads)
  finite = jnp.isfinite(terms["loss"]) & jnp.isfinite(terms["grad_norm"])
  updated = (params, batch_stats, opt_state)
  if config.nan_policy == "skip":  # keep the previous state; only the step moves on
    updated = jax.tree.map(
      lambda new, old: jnp.where(finite, new, old),
      updated,
      (state.params, state.batch_stats, state.opt_state),
    )
  terms["nonfinite"] = (~finite).astype(jnp.float32)
  terms["train_pixel_accuracy"] = jnp.mean((logits[..., 0] > 0) == (targets.mask > 0.5))
  terms["learning_rate"] = create_learning_rate_schedule(config)(state.step)
  new_state = state.replace(
    step=state.step + 1,
    params=updated[0],
    batch_stats=updated[1],
    opt_state=updated[2],
    skipped_steps=state.skipped_steps + (~finite).astype(jnp.int32),
  )
  return new_state, terms


class Runtime:
  """The mesh, the state factory and the compiled steps of one run."""

  def __init__(self, config, factory: StateFactory):
    self.factory = factory
    self.mesh = DeviceMesh()
    replicated, data_sharding = self.mesh.replicated, self.mesh.data_sharding
    self.train_step = jax.jit(
      functools.partial(
        train_step, model=factory.model, tx=factory.tx, config=config, mesh=self.mesh.mesh
      ),
      in_shardings=(replicated, data_sharding),
      out_shardings=(replicated, replicated),
      donate_argnums=(0,),
      compiler_options=conv.compiler_options(config.model.conv_impl),
    )
    self.predict = evaluation.compile_predict(factory.model, self.mesh, config.prediction_views)
    self.create_state = factory.jitted_create(replicated)

  def device_batch(self, batch):
    """A host training batch with its image and mask sharded onto the devices
    (asynchronous transfers); the other fields stay on the host."""
    return {
      **batch,
      "image": self.mesh.shard(batch["image"]),
      "mask": self.mesh.shard(batch["mask"]),
    }

  def abstract_state(self):
    """The TrainState's shapes, replicated over the mesh (to restore into); the
    trace is init_state's, so a run traces the model's initialization once."""
    return self.create_state.eval_shape(jax.random.PRNGKey(0))

  def init_state(self, seed: int):
    """A new TrainState from `seed`, replicated over the mesh."""
    return self.create_state(jax.random.PRNGKey(seed))


# Config keys only the host reads (data, the cadence of logs and saves, the seed of the
# initial key): runs that differ in nothing else compile the same functions.
_HOST_ONLY_KEYS = (
  "seed",
  "dataset",
  "test_datasets",
  "input",
  "log_every_steps",
  "eval_every_steps",
  "checkpoint_every_steps",
  "keep_checkpoints",
  "num_summary_images",
)
_RUNTIMES = collections.OrderedDict()  # the latest runs' Runtimes, by what they compile
_MAX_RUNTIMES = 2


def runtime_for(config) -> Runtime:
  """The Runtime an earlier run in this process built for the same compiled
  functions (a notebook cell run again, an ablation's next seed, a resumed run), so
  nothing is traced or compiled twice; else a new one."""
  compiled = config.to_dict()
  for name in _HOST_ONLY_KEYS:
    compiled.pop(name, None)
  key = (Runtime, tuple(jax.devices()), json.dumps(compiled, sort_keys=True, default=repr))
  if key not in _RUNTIMES:
    own = config.copy_and_resolve_references()  # later edits of `config` stay out of it
    _RUNTIMES[key] = Runtime(own, StateFactory(own))
    while len(_RUNTIMES) > _MAX_RUNTIMES:
      _RUNTIMES.popitem(last=False)
  _RUNTIMES.move_to_end(key)
  return _RUNTIMES[key]


def _should_stop(stop_request, is_log_step) -> bool:
  """Whether to checkpoint and stop after this step. One process: as soon as a
  signal came. Several: they agree at log steps (one small collective), so every
  process saves the same step, whichever of them got the signal."""
  if jax.process_count() == 1:
    return stop_request.requested
  if not is_log_step:
    return False
  return bool(np.any(multihost_utils.process_allgather(np.int32(stop_request.requested))))


def _summarize(history, last_step, nan_policy):
  """Mean of each metric over the steps since the last log; with nan_policy="stop",
  FloatingPointError naming the first step whose loss or gradient was not finite
  (raised before anything of that state can be saved)."""
  history = jax.device_get(history)
  first_step = last_step - len(history) + 1
  if nan_policy == "stop":
    for offset, terms in enumerate(history):
      if terms["nonfinite"]:
        shown = ", ".join(f"{k}={float(v):.4g}" for k, v in terms.items())
        raise FloatingPointError(
          f"non-finite loss or gradient at step {first_step + offset}: {shown}. Training "
          "stopped; nothing of this state was saved. Lower optimizer.learning_rate, set "
          "optimizer.grad_clip_norm, or run with --config.nan_policy=skip."
        )
  scalars = {k: float(np.mean([h[k] for h in history])) for k in history[0]}
  scalars["nonfinite"] = float(sum(h["nonfinite"] for h in history))
  return scalars


class Prepared(NamedTuple):
  """A config ready to train: its dataset built and its schedule in steps."""

  config: Any  # the config, with a schedule in epochs turned into steps
  builder: Any  # the training dataset's TFDS builder
  runtime: Runtime
  checkpointer: checkpointing.Checkpointer


def resolve_schedule(config, train_size: int):
  """`config` with `num_epochs` and `eval_every_epochs` (where set, > 0) turned
  into `num_train_steps` and `eval_every_steps` for a training set of
  `train_size` examples; the result is what config.json records."""
  if config.num_epochs <= 0 and config.eval_every_epochs <= 0:
    return config
  config = config.copy_and_resolve_references()
  steps_per_epoch = train_size / config.batch_size
  if config.num_epochs > 0:
    config.num_train_steps = max(1, math.ceil(config.num_epochs * steps_per_epoch))
  if config.eval_every_epochs > 0:
    config.eval_every_steps = max(1, math.ceil(config.eval_every_epochs * steps_per_epoch))
  return config


def setup(config, workdir) -> Prepared:
  """Validate, build every dataset the run needs (so a missing one fails before any
  training), fix the schedule, create the state factory, runtime and checkpointer."""
  validate_config(config)
  builder = data.ensure_built_everywhere(config.dataset)
  for target in targets_lib.test_targets(config):
    data.ensure_built_everywhere(target.dataset)
  if config.num_epochs > 0 or config.eval_every_epochs > 0:
    source = builder.as_data_source(config.dataset.train_split)
    if len(source) >= synthesis.ENDLESS:
      raise ConfigError(
        f"num_epochs={config.num_epochs} / eval_every_epochs="
        f"{config.eval_every_epochs}: {config.dataset.name} is an endless "
        "stream of forgeries; give num_train_steps and eval_every_steps"
      )
    config = resolve_schedule(config, len(source))
  runtime = runtime_for(config)
  return Prepared(
    config, builder, runtime, checkpointing.Checkpointer(workdir, config.keep_checkpoints)
  )


def train_and_evaluate(config, workdir: str) -> dict:
  """Train, evaluate on the validation split periodically, keep the best checkpoint,
  then evaluate it on the test split. Resumes from `workdir` when it has checkpoints.

  Returns {"<dataset>-<split>": metrics} of the final evaluations (also written to
  `<workdir>/eval/<dataset>-<split>.json`). Raises preemption.Preempted after a
  SIGTERM/SIGINT, once its checkpoint is committed.

  A later call in the same process whose config differs only in what the host reads
  (data, seed, the cadence of logs and saves) reuses this run's compiled steps.
  """
  config, builder, runtime, checkpointer = setup(config, workdir)
  checkpointing.write_config(workdir, config)
  writer = metric_writers.MetricWriter(workdir)
  quality = input_pipeline.DataQuality()
  train_iter = input_pipeline.DevicePrefetch(
    iter(
      input_pipeline.create_train_dataset(
        builder.as_data_source(config.dataset.train_split), config, quality
      )
    ),
    runtime.device_batch,
    config.input.prefetch_to_device,
  )
  state = checkpointer.restore_latest(runtime.abstract_state(), train_iter)
  if state is None:
    state = runtime.init_state(config.seed)
  try:
    with preemption.PreemptionHandler() as stop_request:
      state = _train_loop(
        config, state, train_iter, builder, runtime, checkpointer, writer, quality, stop_request
      )
  finally:
    # Whatever ends the loop, a checkpoint already being written is completed,
    # and what was logged up to it is written.
    checkpointer.wait()
    writer.commit(checkpointer.latest_step())
  results = checkpoint_evaluation.evaluate_checkpoint(
    config, workdir, device_mesh=runtime.mesh, predict=runtime.predict
  )
  for label, result in results.items():
    writer.write(int(state.step), label, result)
  writer.close()
  checkpointer.close()
  return results


def _validate(config, state, source, runtime, writer, step, echo) -> dict:
  """Validation metrics (written, with summary pictures) and the checkpoint's metrics."""
  split = config.dataset.eval_split
  result = evaluation.evaluate(
    runtime.predict,
    runtime.mesh,
    state.variables,
    source,
    config,
    desc=split,
    num_pictures=config.num_summary_images,
  )
  writer.write(step, split, result.metrics, echo=echo)
  if result.pictures:
    writer.write_images(step, f"{split}_examples", result.pictures)
  return {BEST_METRIC: metric_writers.to_jsonable(result.metrics["pixel_f1"])}


def _due(config, done, validating) -> tuple:
  """(validate, save, log) after `done` steps: the last step is saved and logged
  (and validated where `validating`: the run has a validation split), every
  validation is saved, every save is logged."""
  last = done == config.num_train_steps
  eval_now = validating and (done % config.eval_every_steps == 0 or last)
  save_now = done % config.checkpoint_every_steps == 0 or eval_now or last
  log_now = done % config.log_every_steps == 0 or save_now
  return eval_now, save_now, log_now


def _train_loop(
  config, state, train_iter, builder, runtime, checkpointer, writer, quality, stop_request
):
  eval_split = config.dataset.eval_split  # "" for benchmarks without a validation split
  eval_source = builder.as_data_source(eval_split) if eval_split else None
  start_step = int(state.step)
  history, last_time = [], time.time()
  queued_metrics = None  # the metrics of the step queued before this one
  progress = tqdm(
    range(start_step, config.num_train_steps),
    initial=start_step,
    total=config.num_train_steps,
    desc="train",
    disable=jax.process_index() != 0,
  )
  for step in progress:
    batch = next(train_iter)
    quality.record_batch(batch)
    state, step_metrics = runtime.train_step(
      state, {"image": batch["image"], "mask": batch["mask"]}
    )
    # At most two steps in flight: the device runs one while the next waits. Left
    # alone, the runtime queues dozens of steps ahead of a slow device, and a stop
    # signal (like every log or save) would wait for all of them, past the grace
    # period a scheduler gives before it kills the process.
    jax.block_until_ready(queued_metrics)
    queued_metrics = step_metrics
    history.append(step_metrics)
    done = step + 1
    eval_now, save_now, log_now = _due(config, done, validating=bool(eval_split))
    stopping = _should_stop(stop_request, log_now)
    if log_now or stopping:
      # The only host sync of the loop; it checks the loss before any save.
      scalars = _summarize(history, done, config.nan_policy)
      scalars["images_per_second"] = (
        len(history) * config.batch_size / max(time.time() - last_time, 1e-9)
      )
      scalars.update(quality.snapshot())
      writer.write(done, "train", scalars, echo=progress.write)
      progress.set_postfix(loss=f"{scalars['loss']:.4f}")
      history, last_time = [], time.time()
    checkpoint_metrics = {}
    if eval_now and not stopping:
      checkpoint_metrics = _validate(
        config, state, eval_source, runtime, writer, done, progress.write
      )
      last_time = time.time()
    if save_now or stopping:
      # The previous checkpoint is committed once the manager is idle (a new save
      # would wait for it too): what was logged up to it can be written.
      checkpointer.wait()
      writer.commit(checkpointer.latest_step())
      checkpointer.save(done, state, config, train_iter, metrics=checkpoint_metrics, force=True)
    if stopping:
      checkpointer.wait()
      writer.commit(done)
      progress.close()
      raise preemption.Preempted(stop_request.signum or signal.SIGTERM, done)
  progress.close()
  return state

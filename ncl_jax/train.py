"""Training and evaluation of NCL: `train_and_evaluate(config, workdir)`.

The loop runs `jax.jit`-compiled steps over a one-axis device mesh ("data"):
parameters and optimizer state replicated, batches sharded on the batch axis.
"""
import functools
import json
import os
import signal
import time
from typing import Any, NamedTuple, Optional

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging
from jax.sharding import NamedSharding, PartitionSpec as P

from ncl_jax import (checkpointing, input_pipeline, losses, metric_writers, metrics, patches,
                     preemption)
from ncl_jax.config_validation import validate_config
from ncl_jax.models import create_model


@flax.struct.dataclass
class TrainState:
  step: jnp.ndarray
  params: Any
  batch_stats: Any
  opt_state: Any
  rng: jnp.ndarray  # base key; step t uses fold_in(rng, t), so resuming replays it exactly
  skipped_steps: jnp.ndarray  # steps dropped for a non-finite loss (nan_policy="skip")


def create_learning_rate_schedule(config):
  opt = config.optimizer
  decay = optax.polynomial_schedule(opt.learning_rate, 0.0, opt.power,
                                    max(1, config.num_train_steps - opt.warmup_steps))
  if opt.warmup_steps <= 0:
    return decay
  warmup = optax.linear_schedule(0.0, opt.learning_rate, opt.warmup_steps)
  return optax.join_schedules([warmup, decay], [opt.warmup_steps])


def create_optimizer(config):
  """SGD with momentum (the paper) or AdamW, polynomial decay, optional clipping."""
  opt = config.optimizer
  schedule = create_learning_rate_schedule(config)
  if opt.name == "sgd":
    tx = optax.chain(optax.add_decayed_weights(opt.weight_decay),
                     optax.sgd(schedule, momentum=opt.momentum))
  else:
    tx = optax.adamw(schedule, weight_decay=opt.weight_decay)
  if opt.grad_clip_norm > 0:
    tx = optax.chain(optax.clip_by_global_norm(opt.grad_clip_norm), tx)
  return tx


def create_train_state(rng, config, model, tx) -> TrainState:
  init_rng, state_rng = jax.random.split(rng)
  size = config.image_size
  num_contour = config.ncl.max_contour_patches
  variables = model.init(
      init_rng, jnp.zeros((1, size, size, 3), jnp.float32),
      jnp.zeros((1, num_contour), jnp.int32), jnp.ones((1, num_contour), bool), train=False)
  params = variables["params"]
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    batch_stats=variables["batch_stats"], opt_state=tx.init(params),
                    rng=state_rng, skipped_steps=jnp.zeros((), jnp.int32))


def sample_patches(mask, rng, config):
  """Patch categories of the batch and the sampled tampered/authentic/contour slots."""
  categories = patches.categorize_patches(mask, config.patch_size)
  keys = jax.random.split(rng, 3)
  per_class = config.ncl.max_patches_per_class
  return {
      "categories": categories,
      "tampered": patches.sample_patch_indices(categories, patches.TAMPERED, per_class, keys[0]),
      "authentic": patches.sample_patch_indices(categories, patches.AUTHENTIC, per_class, keys[1]),
      "contour": patches.sample_patch_indices(categories, patches.CONTOUR,
                                              config.ncl.max_contour_patches, keys[2]),
  }


def _pooled(patch_features, index, valid):
  """Gather sampled patches of every image into one set: [batch*n, d], [batch*n]."""
  features = patches.gather_patches(patch_features, index)
  return features.reshape(-1, features.shape[-1]), valid.reshape(-1)


def ncl_terms(outputs, sampled, config, step, mesh=None):
  """L_NCL over the global batch. On a mesh of several devices it runs under
  shard_map: each device's anchors meet the all-gathered keys of every device."""
  tampered, tampered_valid = _pooled(outputs["patch_features"], *sampled["tampered"])
  authentic, authentic_valid = _pooled(outputs["patch_features"], *sampled["authentic"])
  args = (tampered, tampered_valid, authentic, authentic_valid, outputs["se_pos"],
          outputs["se_neg"], sampled["contour"][1].any(-1), step)

  def loss(*args, axis_name=None):
    *arrays, step = args
    return losses.ncl_loss(*arrays, config.ncl.temperature, config.ncl.contour_role, step,
                           axis_name=axis_name)
  if mesh is None or mesh.size == 1:
    return loss(*args)
  sharded = jax.shard_map(functools.partial(loss, axis_name="data"), mesh=mesh,
                          in_specs=(P("data"),) * 7 + (P(),), out_specs=P())
  return sharded(*args)


def compute_losses(outputs, mask, sampled, config, step, mesh=None):
  """omega * L_NCL + sum over output maps of L_PC, with every term for logging."""
  terms = {}
  if config.ncl.weight > 0:
    ncl = ncl_terms(outputs, sampled, config, step, mesh)
    terms.update({f"ncl_{k}": v for k, v in ncl.items()})
  contour_pixels = patches.contour_pixel_mask(sampled["categories"], config.patch_size)
  mu = config.pc.mu
  if config.pc.mode == "bce":  # the ablation baseline: every pixel weighted alike
    contour_pixels, mu = jnp.zeros_like(contour_pixels), 0.0
  maps = {"final": outputs["logits"], **outputs["aux_logits"]}
  for name, logits in maps.items():
    terms[f"pc_{name}"] = losses.pivot_consistent_loss(logits, mask, contour_pixels, mu)
  terms["pc_total"] = sum(terms[f"pc_{name}"] for name in maps)
  terms["loss"] = config.ncl.weight * terms.get("ncl_total", 0.0) + terms["pc_total"]
  return terms


def train_step(state: TrainState, batch, *, model, tx, config, mesh=None):
  """One optimizer step. batch: image [b, H, W, 3] float32, mask [b, H, W] uint8."""
  mask = batch["mask"].astype(jnp.float32)
  sampled = sample_patches(mask, jax.random.fold_in(state.rng, state.step), config)
  contour_index, contour_valid = sampled["contour"]

  def loss_fn(params):
    outputs, updates = model.apply(
        {"params": params, "batch_stats": state.batch_stats}, batch["image"], contour_index,
        contour_valid, train=True, mutable=["batch_stats"])
    terms = compute_losses(outputs, mask, sampled, config, state.step, mesh)
    return terms["loss"], (terms, updates["batch_stats"], outputs["logits"])

  grads, (terms, batch_stats, logits) = jax.grad(loss_fn, has_aux=True)(state.params)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  terms["grad_norm"] = optax.global_norm(grads)
  finite = jnp.isfinite(terms["loss"]) & jnp.isfinite(terms["grad_norm"])
  updated = (params, batch_stats, opt_state)
  if config.nan_policy == "skip":  # keep the previous state; only the step moves on
    updated = jax.tree.map(lambda new, old: jnp.where(finite, new, old), updated,
                           (state.params, state.batch_stats, state.opt_state))
  terms["nonfinite"] = (~finite).astype(jnp.float32)
  terms["train_pixel_accuracy"] = jnp.mean((logits[..., 0] > 0) == (mask > 0.5))
  terms["learning_rate"] = create_learning_rate_schedule(config)(state.step)
  new_state = state.replace(step=state.step + 1, params=updated[0], batch_stats=updated[1],
                            opt_state=updated[2],
                            skipped_steps=state.skipped_steps + (~finite).astype(jnp.int32))
  return new_state, terms


def eval_step(state: TrainState, images, *, model):
  """images [b, H, W, 3] -> manipulation probabilities [b, H, W]."""
  outputs = model.apply({"params": state.params, "batch_stats": state.batch_stats}, images,
                        train=False)
  return jax.nn.sigmoid(outputs["logits"][..., 0])


def abstract_train_state(config, model, tx, sharding):
  """The TrainState's shapes and dtypes, placed with `sharding` (for restoring)."""
  shapes = jax.eval_shape(functools.partial(create_train_state, config=config, model=model,
                                            tx=tx), jax.random.PRNGKey(0))
  return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding),
                      shapes)


class Runtime:
  """The mesh, shardings and compiled steps of one run."""

  def __init__(self, config, model, tx):
    self.mesh = jax.make_mesh((jax.device_count(),), ("data",),
                              axis_types=(jax.sharding.AxisType.Auto,))
    self.replicated = NamedSharding(self.mesh, P())
    self.data_sharding = NamedSharding(self.mesh, P("data"))
    self.train_step = jax.jit(
        functools.partial(train_step, model=model, tx=tx, config=config, mesh=self.mesh),
        in_shardings=(self.replicated, self.data_sharding),
        out_shardings=(self.replicated, self.replicated), donate_argnums=(0,))
    # Predictions come back replicated: every process computes the same metrics.
    self.eval_step = jax.jit(functools.partial(eval_step, model=model),
                             in_shardings=(self.replicated, self.data_sharding),
                             out_shardings=self.replicated)

  def shard(self, array):
    """This process's rows of a global batch -> a global array sharded on "data"."""
    return jax.make_array_from_process_local_data(self.data_sharding, np.asarray(array))

  def device_batch(self, batch):
    """A host training batch with its image and mask sharded onto the devices
    (asynchronous transfers); the other fields stay on the host."""
    return {**batch, "image": self.shard(batch["image"]), "mask": self.shard(batch["mask"])}

  def shard_global(self, array):
    """A whole global batch that every process holds -> a global array; each
    process contributes the rows of its own devices."""
    array = np.asarray(array)
    if jax.process_count() == 1:
      return self.shard(array)
    index_map = self.data_sharding.addressable_devices_indices_map(array.shape)
    rows = sorted({(i[0].start or 0, i[0].stop or len(array)) for i in index_map.values()})
    local = np.concatenate([array[start:stop] for start, stop in rows])
    return jax.make_array_from_process_local_data(self.data_sharding, local, array.shape)

  def abstract_state(self, config, model, tx):
    return abstract_train_state(config, model, tx, self.replicated)

  def init_state(self, config, model, tx):
    init = jax.jit(functools.partial(create_train_state, config=config, model=model, tx=tx),
                   out_shardings=self.replicated)
    return init(jax.random.PRNGKey(config.seed))


def evaluate(runtime: Runtime, state, source, config, desc="eval", perturbation=None) -> dict:
  """Metrics of `state` on a data source, at each image's original size
  (`perturbation`: see input_pipeline.EvalPreprocess)."""
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  evaluator = metrics.Evaluator(config.eval_threshold)
  dataset = input_pipeline.create_eval_dataset(source, config.image_size,
                                               config.eval_batch_size, config.input.num_threads,
                                               config.input.mask_size_policy, perturbation)
  num_batches = -(-len(source) // config.eval_batch_size)
  skipped = []
  for batch in tqdm(dataset, total=num_batches, desc=desc, leave=False,
                    disable=jax.process_index() != 0):
    images = runtime.shard_global(batch["image"])
    probabilities = np.asarray(runtime.eval_step(state, images))
    skipped += [reason for reason in batch["skip_reason"] if reason]
    for i in np.flatnonzero(batch["valid"]):
      if config.eval_at_original_size:
        target = batch["original_mask"][i]
        evaluator.add(input_pipeline.resize_probabilities(probabilities[i], target.shape),
                      target, batch["label"][i])
      else:  # at the model's input size, the mask resized with nearest neighbour
        evaluator.add(probabilities[i], batch["mask"][i], batch["label"][i])
  for reason in skipped:
    logging.warning("skipped an evaluation example: %s", reason)
  return {**evaluator.result(), "num_skipped": len(skipped), "skipped": skipped}


def summary_pictures(runtime, state, source, config):
  """For the first `num_summary_images` examples of `source`, one picture each:
  image | ground truth | prediction | thresholded prediction | patch categories."""
  from ncl_jax import visualize  # pylint: disable=g-import-not-at-top
  size = config.image_size
  count = min(config.num_summary_images, config.eval_batch_size, len(source))
  examples = [input_pipeline.decode_example(source[i]) for i in range(count)]
  images = [input_pipeline.resize_image(e["image"], (size, size)) for e in examples]
  masks = [input_pipeline.resize_mask(e["mask"], (size, size)) for e in examples]
  batch = np.zeros((config.eval_batch_size, size, size, 3), np.float32)  # the compiled shape
  batch[:count] = [input_pipeline.normalize(image) for image in images]
  probabilities = np.asarray(runtime.eval_step(state, runtime.shard_global(batch)))[:count]
  categories = np.asarray(patches.categorize_patches(np.stack(masks), config.patch_size))
  pictures = []
  for image, mask, prob, category in zip(images, masks, probabilities, categories):
    panels = (image, np.repeat(mask[..., None] * 255, 3, -1), visualize.heatmap(prob),
              visualize.overlay(image, prob > config.eval_threshold),
              visualize.patch_category_image(category, config.patch_size))
    pictures.append(np.concatenate(panels, axis=1))
  return pictures


def _should_stop(stop_request, is_log_step) -> bool:
  """Whether to checkpoint and stop after this step. One process: as soon as a
  signal came. Several: they agree at log steps (one small collective), so every
  process saves the same step, whichever of them got the signal."""
  if jax.process_count() == 1:
    return stop_request.requested
  if not is_log_step:
    return False
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
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
            "optimizer.grad_clip_norm, or run with --config.nan_policy=skip.")
  scalars = {k: float(np.mean([h[k] for h in history])) for k in history[0]}
  scalars["nonfinite"] = float(sum(h["nonfinite"] for h in history))
  return scalars


def eval_label(dataset_name: str, split: str) -> str:
  """"<dataset>-<split>", the name of an evaluation (TFDS names may hold a "/")."""
  return f"{dataset_name}-{split}".replace("/", "_")


def eval_json_path(workdir: str, label: str) -> str:
  return os.path.join(workdir, "eval", f"{label}.json")


def _write_eval_json(workdir, label, result):
  path = eval_json_path(workdir, label)
  if jax.process_index() == 0:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
      json.dump(metric_writers.to_jsonable(result), file, indent=2)
  return path


class Prepared(NamedTuple):
  builder: Any                 # the training dataset's TFDS builder
  test_builders: dict          # label -> builder of each final evaluation
  model: Any
  tx: Any
  runtime: Runtime
  checkpointer: checkpointing.Checkpointer


def evaluation_targets(config):
  """[(label, dataset config, split)] of the final evaluations: the training
  dataset's `test_split` (if set) and every entry of `config.test_datasets`."""
  targets = []
  if config.dataset.test_split:
    targets.append((eval_label(config.dataset.name, config.dataset.test_split), config.dataset,
                    config.dataset.test_split))
  for extra in dict(config.get("test_datasets") or {}).values():
    dataset = dict(extra)
    dataset["data_dir"] = dataset.get("data_dir") or config.dataset.data_dir
    split = dataset.get("split") or "test"
    targets.append((eval_label(dataset["name"], split), dataset, split))
  return targets


def _build_once(dataset_config):
  """ensure_built, by process 0 alone when there are several (the others check
  that the data is there, then wait for the build)."""
  from ncl_jax import data  # pylint: disable=g-import-not-at-top
  if jax.process_count() == 1:
    return data.ensure_built(dataset_config)
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  data.check_available(dataset_config)
  if jax.process_index() == 0:
    data.ensure_built(dataset_config)
  multihost_utils.sync_global_devices(f"built {dataset_config['name']}")
  return data.ensure_built(dataset_config)


def setup(config, workdir) -> Prepared:
  """Validate, build every dataset the run needs (so a missing one fails before any
  training), create model/optimizer/runtime/checkpointer."""
  validate_config(config)
  builder = _build_once(config.dataset)
  test_builders = {label: _build_once(dataset)
                   for label, dataset, _ in evaluation_targets(config)}
  model = create_model(config.model, config.patch_size)
  tx = create_optimizer(config)
  return Prepared(builder, test_builders, model, tx, Runtime(config, model, tx),
                  checkpointing.Checkpointer(workdir, config.keep_checkpoints))


def train_and_evaluate(config, workdir: str) -> dict:
  """Train, evaluate on the validation split periodically, keep the best checkpoint,
  then evaluate it on the test split. Resumes from `workdir` when it has checkpoints.

  Returns {"<dataset>-<split>": metrics} of the final evaluations (also written to
  `<workdir>/eval/<dataset>-<split>.json`). Raises preemption.Preempted after a
  SIGTERM/SIGINT, once its checkpoint is committed.
  """
  prepared = setup(config, workdir)
  builder, _, model, tx, runtime, checkpointer = prepared
  checkpointing.write_config(workdir, config)
  writer = metric_writers.MetricWriter(workdir)
  quality = input_pipeline.DataQuality()
  train_iter = input_pipeline.DevicePrefetch(
      iter(input_pipeline.create_train_dataset(
          builder.as_data_source(config.dataset.train_split), config, quality)),
      runtime.device_batch, config.input.prefetch_to_device)
  state = checkpointer.restore_latest(runtime.abstract_state(config, model, tx), train_iter)
  if state is None:
    state = runtime.init_state(config, model, tx)
  try:
    with preemption.PreemptionHandler() as stop_request:
      state = _train_loop(config, state, train_iter, builder, runtime, checkpointer, writer,
                          quality, stop_request)
  finally:
    # Whatever ends the loop, a checkpoint already being written is completed.
    checkpointer.wait()
  results = evaluate_checkpoint(config, workdir, prepared=prepared)
  for label, result in results.items():
    writer.write(int(state.step), label, result)
  writer.close()
  checkpointer.close()
  return results


def _train_loop(config, state, train_iter, builder, runtime, checkpointer, writer, quality,
                stop_request):
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  eval_split = config.dataset.eval_split  # "" for benchmarks without a validation split
  eval_source = builder.as_data_source(eval_split) if eval_split else None
  start_step = int(state.step)
  history, last_time = [], time.time()
  progress = tqdm(range(start_step, config.num_train_steps), initial=start_step,
                  total=config.num_train_steps, desc="train", disable=jax.process_index() != 0)
  for step in progress:
    batch = next(train_iter)
    quality.record_batch(batch)
    state, step_metrics = runtime.train_step(
        state, {"image": batch["image"], "mask": batch["mask"]})
    history.append(step_metrics)
    done = step + 1
    eval_now = bool(eval_split) and (done % config.eval_every_steps == 0
                                     or done == config.num_train_steps)
    save_now = (done % config.checkpoint_every_steps == 0 or eval_now
                or done == config.num_train_steps)
    log_now = done % config.log_every_steps == 0 or save_now
    stopping = _should_stop(stop_request, log_now)
    if log_now or stopping:
      # The only host sync of the loop; it checks the loss before any save.
      scalars = _summarize(history, done, config.nan_policy)
      scalars["images_per_second"] = (len(history) * config.batch_size
                                      / max(time.time() - last_time, 1e-9))
      scalars.update(quality.snapshot())
      writer.write(done, "train", scalars, echo=progress.write)
      progress.set_postfix(loss=f"{scalars['loss']:.4f}")
      history, last_time = [], time.time()
    checkpoint_metrics = None
    if eval_now and not stopping:
      result = evaluate(runtime, state, eval_source, config, desc=eval_split)
      writer.write(done, eval_split, result, echo=progress.write)
      if config.num_summary_images:
        writer.write_images(done, f"{eval_split}_examples",
                            summary_pictures(runtime, state, eval_source, config))
      checkpoint_metrics = {
          checkpointing.BEST_METRIC: metric_writers.to_jsonable(result["pixel_f1"])}
      last_time = time.time()
    if save_now or stopping:
      checkpointer.save(done, state, config, train_iter, metrics=checkpoint_metrics or {},
                        force=True)
    if stopping:
      checkpointer.wait()
      progress.close()
      raise preemption.Preempted(stop_request.signum or signal.SIGTERM, done)
  progress.close()
  return state


def evaluate_checkpoint(config, workdir: str, checkpoint: Optional[str] = None,
                        split: Optional[str] = None, prepared: Optional[Prepared] = None) -> dict:
  """Evaluate the best checkpoint (the latest without validation; or step
  `checkpoint`) on every evaluation target, or on `split` of the training dataset.

  Writes `<workdir>/eval/<dataset>-<split>.json` for each; returns {label: metrics}.
  """
  prepared = prepared or setup(config, workdir)
  checkpointer = prepared.checkpointer
  step = int(checkpoint) if checkpoint else checkpointer.best_step()
  if step is None:
    raise FileNotFoundError(f"no checkpoint in {checkpointer.directory}; train first")
  state = checkpointer.restore(step, prepared.runtime.abstract_state(config, prepared.model,
                                                                     prepared.tx))
  if split:
    targets = [(eval_label(config.dataset.name, split), prepared.builder, split)]
  else:
    targets = [(label, prepared.test_builders[label], target_split)
               for label, _, target_split in evaluation_targets(config)]
  results = {}
  for label, builder, target_split in targets:
    result = evaluate(prepared.runtime, state, builder.as_data_source(target_split), config,
                      desc=label)
    name = label.rsplit("-", 1)[0]
    results[label] = {"checkpoint_step": step, "dataset": name, "split": target_split, **result}
    path = _write_eval_json(workdir, label, results[label])
    print(f"[{label}] checkpoint {step}: pixel_f1={result['pixel_f1']:.4f} "
          f"pixel_auc={result['pixel_auc']:.4f} image_auc={result['image_auc']:.4f} -> {path}")
  return results

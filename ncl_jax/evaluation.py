"""Evaluation: what is evaluated (targets), the one prediction function, and the
metrics of a model on a dataset split.

Used by training (validation and the final test evaluations), `--mode=eval`,
robustness and the ablations; inference uses the same prediction function.
Serving a checkpoint here restores only its parameters and BatchNorm statistics.
"""

import dataclasses
import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from tqdm import tqdm

from ncl_jax import (
  checkpointing,
  data,
  imaging,
  input_pipeline,
  metric_writers,
  metrics,
  patches,
  paths,
  visualize,
)
from ncl_jax.devices import DeviceMesh
from ncl_jax.state import StateFactory


def eval_label(dataset_name: str, split: str) -> str:
  """ "<dataset>-<split>", the name of an evaluation (TFDS names may hold a "/")."""
  return f"{dataset_name}-{split}".replace("/", "_")


def eval_json_path(workdir, label: str):
  return paths.resolve(workdir) / "eval" / f"{label}.json"


@dataclasses.dataclass(frozen=True)
class EvalTarget:
  """One evaluation: a dataset (a config mapping: name, data_dir, manual_dir,
  options), a split of it, and the protocol it is scored with ("ncl" or
  "imdlbenco", see metrics.py)."""

  dataset: dict
  split: str
  protocol: str = "ncl"

  @property
  def label(self) -> str:
    """ "<dataset>-<split>"; an IMDL-BenCo folder adds its folder_name (several can
    be evaluated side by side)."""
    name = self.dataset["name"]
    folder = dict(self.dataset.get("options") or {}).get("folder_name")
    if name == "iml_folder" and folder:
      name = f"{name}_{folder}"
    return eval_label(name, self.split)


def _dataset(dataset_config, defaults) -> dict:
  dataset = dict(dataset_config)
  dataset["data_dir"] = dataset.get("data_dir") or defaults.data_dir
  return dataset


def test_targets(config) -> list[EvalTarget]:
  """The final evaluations: the training dataset's `test_split` (if set) and
  every entry of `config.test_datasets` (split default "test"), except an
  `iml_folder` entry left without a `manual_dir` (a slot for the user's own data)."""
  targets = []
  if config.dataset.test_split:
    targets.append(
      EvalTarget(dict(config.dataset), config.dataset.test_split, config.eval_protocol)
    )
  for extra in dict(config.get("test_datasets") or {}).values():
    dataset = _dataset(extra, config.dataset)
    if dataset["name"] == "iml_folder" and not dataset.get("manual_dir"):
      continue
    targets.append(
      EvalTarget(
        dataset, dataset.get("split") or "test", dataset.get("protocol") or config.eval_protocol
      )
    )
  return targets


def split_target(config, split: str) -> EvalTarget:
  """A split of the training dataset (validation, or any split asked for)."""
  return EvalTarget(dict(config.dataset), split, config.eval_protocol)


PREDICTION_VIEWS = (1, 2, 4, 8)


def check_views(views):
  """`views` itself, or a ValueError naming it where it is not a PREDICTION_VIEWS value."""
  if views not in PREDICTION_VIEWS:
    raise ValueError(f"views must be one of {PREDICTION_VIEWS}, got {views!r}")
  return views


def predict_probabilities(model, variables, images_batch, views=1):
  """The one prediction function: images [b, H, W, 3] (normalized) ->
  manipulation probabilities [b, H, W].

  `views` > 1 averages the probabilities over that many symmetries of the image
  (test-time augmentation): the identity, the horizontal flip, the vertical flip,
  both flips, then the same four of the transpose (8 needs H == W). The views run
  one after another (lax.map), so memory stays that of one batch.
  """

  def probabilities(images):
    return jax.nn.sigmoid(model.apply(variables, images, train=False)["logits"][..., 0])

  if check_views(views) == 1:
    return probabilities(images_batch)
  if views == 8 and images_batch.shape[1] != images_batch.shape[2]:
    raise ValueError(
      f"views=8 transposes the images: they must be square, "
      f"got {images_batch.shape[1]}x{images_batch.shape[2]}"
    )
  viewed = jnp.stack([_view(images_batch, index) for index in range(views)])
  maps = jax.lax.map(probabilities, viewed)  # [views, b, H, W]
  return jnp.mean(jnp.stack([_unview(maps[index], index) for index in range(views)]), axis=0)


def _view(images, index):
  """Symmetry `index` (0-7) of [b, H, W, ...]: flips of axis 2 (bit 0) and axis 1
  (bit 1) after a transpose (bit 2)."""
  if index & 4:
    images = jnp.swapaxes(images, 1, 2)
  if index & 1:
    images = images[:, :, ::-1]
  if index & 2:
    images = images[:, ::-1]
  return images


def _unview(maps, index):
  """The inverse of _view on [b, H, W] maps: the flips undone, then the transpose."""
  if index & 2:
    maps = maps[:, ::-1]
  if index & 1:
    maps = maps[:, :, ::-1]
  if index & 4:
    maps = jnp.swapaxes(maps, 1, 2)
  return maps


def compile_predict(model, device_mesh: DeviceMesh, views=1):
  """predict_probabilities(variables, images) compiled over the mesh; the
  predictions come back replicated, so every process computes the same metrics."""
  return jax.jit(
    functools.partial(predict_probabilities, model, views=views),
    in_shardings=(device_mesh.replicated, device_mesh.data_sharding),
    out_shardings=device_mesh.replicated,
  )


def padded_batch_size(batch_size: int, num_devices: int) -> int:
  """The compiled evaluation batch: `batch_size` rounded up to a multiple of the
  devices (the extra rows are padding, marked invalid)."""
  return -(-batch_size // num_devices) * num_devices


class Evaluation(NamedTuple):
  metrics: dict  # see metrics.Evaluator.result, plus num_skipped and skipped
  pictures: list  # uint8 summary pictures of the first examples (if asked for)


def evaluate(
  predict,
  device_mesh: DeviceMesh,
  variables,
  source,
  config,
  desc="eval",
  perturbation: Callable | None = None,
  num_pictures: int = 0,
  protocol: str = "ncl",
) -> Evaluation:
  """Metrics of `variables` on a data source, at each image's original size ("ncl"
  protocol; or IMDL-BenCo's, see metrics.py), and `num_pictures` summary pictures
  drawn from the same predictions (`perturbation`: see
  input_pipeline.EvalPreprocess)."""
  if protocol == "imdlbenco":
    evaluator = metrics.ImdlBencoEvaluator(config.eval_threshold)
  else:
    evaluator = metrics.Evaluator(config.eval_threshold, config.image_score_quantile)
  at_mask_size = config.eval_at_original_size or protocol == "imdlbenco"
  batch_size = padded_batch_size(config.eval_batch_size, device_mesh.size)
  dataset = input_pipeline.create_eval_dataset(
    source,
    config.image_size,
    batch_size,
    config.input.num_threads,
    config.input.mask_size_policy,
    perturbation,
    protocol,
  )
  skipped, pictures = [], []
  for batch in tqdm(
    dataset,
    total=-(-len(source) // batch_size),
    desc=desc,
    leave=False,
    disable=jax.process_index() != 0,
  ):
    probabilities = np.asarray(predict(variables, device_mesh.shard_global(batch["image"])))
    skipped += [reason for reason in batch["skip_reason"] if reason]
    for i in np.flatnonzero(batch["valid"]):
      if at_mask_size:
        target = batch["original_mask"][i]
        evaluator.add(
          imaging.resize_probabilities(probabilities[i], target.shape), target, batch["label"][i]
        )
      else:  # at the model's input size, the mask resized with nearest neighbour
        evaluator.add(probabilities[i], batch["mask"][i], batch["label"][i])
      if len(pictures) < num_pictures:
        pictures.append(
          summary_picture(batch["image"][i], batch["mask"][i], probabilities[i], config)
        )
  for reason in skipped:
    logging.warning("skipped an evaluation example: %s", reason)
  return Evaluation(
    {**evaluator.result(), "num_skipped": len(skipped), "skipped": skipped}, pictures
  )


def summary_picture(normalized_image, mask, probabilities, config) -> np.ndarray:
  """image | ground truth | prediction | thresholded prediction | patch categories,
  uint8 [S, 5 * S, 3], from an evaluation batch's row and its prediction."""
  image = np.clip(normalized_image * imaging.IMAGENET_STD + imaging.IMAGENET_MEAN, 0, 255)
  image = np.round(image).astype(np.uint8)
  categories = np.asarray(patches.categorize_patches(mask[None], config.patch_size))[0]
  panels = (
    image,
    np.repeat(mask[..., None] * 255, 3, -1),
    visualize.heatmap(probabilities),
    visualize.overlay(image, probabilities > config.eval_threshold),
    visualize.patch_category_image(categories, config.patch_size),
  )
  return np.concatenate(panels, axis=1)


def write_eval_json(workdir: str, label: str, result: dict) -> str:
  path = eval_json_path(workdir, label)
  if jax.process_index() == 0:
    paths.write_json(path, metric_writers.to_jsonable(result), indent=2)
  return path


class Served(NamedTuple):
  step: int
  variables: dict  # {"params", "batch_stats"}
  config: object  # the config saved with the checkpoint (the network it trained)


def restore_for_serving(workdir: str, checkpoint: str | None = None, sharding=None) -> Served:
  """The best checkpoint of `workdir` (the latest where none was selected on
  validation), or step `checkpoint`, for prediction. FileNotFoundError when there
  is none. No optimizer state is read."""
  checkpointer = checkpointing.Checkpointer(workdir, read_only=True)
  step = int(checkpoint) if checkpoint else checkpointer.best_step()
  if step is None:
    raise FileNotFoundError(f"no checkpoint in {checkpointer.directory}; train first")
  step_dir = checkpointer.step_dir(step)
  saved = checkpointing.read_config(step_dir)
  sharding = sharding or jax.sharding.SingleDeviceSharding(jax.devices()[0])
  abstract = StateFactory(saved, with_optimizer=False).abstract_variables(sharding)
  return Served(step, checkpointing.restore_variables(step_dir, abstract), saved)


def with_trained_network(config, saved):
  """`config` with the network (model, patch size, input size) of a saved config."""
  config = config.copy_and_resolve_references()
  with config.unlocked():
    config.model = saved.model
    config.patch_size, config.image_size = saved.patch_size, saved.image_size
  return config


def evaluate_checkpoint(
  config,
  workdir: str,
  checkpoint: str | None = None,
  split: str | None = None,
  device_mesh: DeviceMesh | None = None,
  predict=None,
) -> dict:
  """Evaluate the best checkpoint (or step `checkpoint`) on every test target, or
  on `split` of the training dataset.

  Writes `<workdir>/eval/<dataset>-<split>.json` for each; returns {label: metrics}.
  """
  targets = [split_target(config, split)] if split else test_targets(config)
  builders = {target.label: data.ensure_built_everywhere(target.dataset) for target in targets}
  device_mesh = device_mesh or DeviceMesh()
  step, variables, saved = restore_for_serving(workdir, checkpoint, device_mesh.replicated)
  config = with_trained_network(config, saved)
  predict = predict or compile_predict(
    StateFactory(config, with_optimizer=False).model, device_mesh, config.prediction_views
  )
  results = {}
  for target in targets:
    source = builders[target.label].as_data_source(target.split)
    result = evaluate(
      predict, device_mesh, variables, source, config, desc=target.label, protocol=target.protocol
    ).metrics
    results[target.label] = {
      "checkpoint_step": step,
      "dataset": target.label.rsplit("-", 1)[0],
      "split": target.split,
      **result,
    }
    path = write_eval_json(workdir, target.label, results[target.label])
    print(
      f"[{target.label}] checkpoint {step}: pixel_f1={result['pixel_f1']:.4f} "
      f"pixel_auc={result['pixel_auc']:.4f} image_auc={result['image_auc']:.4f} -> {path}"
    )
  return results

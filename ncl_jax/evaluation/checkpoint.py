"""A saved checkpoint evaluated on every test target of a config (or one split)."""

from collections.abc import Callable
from typing import NamedTuple

from ncl_jax import data, models
from ncl_jax.evaluation import targets as targets_lib
from ncl_jax.evaluation.loop import compile_predict, evaluate
from ncl_jax.serving import restore as restore_lib
from ncl_jax.training.devices import DeviceMesh


def with_trained_network(config, saved):
  """`config` with the network (model, patch size, input size) of a saved config."""
  config = config.copy_and_resolve_references()
  with config.unlocked():
    config.model = saved.model
    config.patch_size, config.image_size = saved.patch_size, saved.image_size
  return config


class Evaluable(NamedTuple):
  """A restored checkpoint and its prediction function, ready to evaluate."""

  step: int
  variables: dict  # {"params", "batch_stats"}, replicated over the mesh
  config: object  # the config, with the network of the checkpoint
  predict: Callable  # predict(variables, images), compiled over the mesh


def restore_for_evaluation(
  config, workdir, checkpoint=None, device_mesh=None, predict=None
) -> Evaluable:
  """The best checkpoint of `workdir` (or step `checkpoint`) ready to evaluate, with
  `predict` (already compiled for this network) or a new prediction function."""
  device_mesh = device_mesh or DeviceMesh()
  step, variables, saved = restore_lib.restore(workdir, checkpoint, device_mesh.replicated)
  config = with_trained_network(config, saved)
  predict = predict or compile_predict(
    models.create_model(config.model, config.patch_size), device_mesh, config.prediction_views
  )
  return Evaluable(step, variables, config, predict)


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
  targets = [targets_lib.split_target(config, split)] if split else targets_lib.test_targets(config)
  builders = {target.label: data.ensure_built_everywhere(target.dataset) for target in targets}
  device_mesh = device_mesh or DeviceMesh()
  step, variables, config, predict = restore_for_evaluation(
    config, workdir, checkpoint, device_mesh, predict
  )
  results = {}
  for target in targets:
    split = data.built_splits(builders[target.label], target.split)
    source = builders[target.label].as_data_source(split)
    result = evaluate(
      predict, device_mesh, variables, source, config, desc=target.label, protocol=target.protocol
    ).metrics
    results[target.label] = {
      "checkpoint_step": step,
      "dataset": target.label.rsplit("-", 1)[0],
      "split": split,
      **result,
    }
    path = targets_lib.write_eval_json(workdir, target.label, results[target.label])
    print(
      f"[{target.label}] checkpoint {step}: pixel_f1={result['pixel_f1']:.4f} "
      f"pixel_auc={result['pixel_auc']:.4f} image_auc={result['image_auc']:.4f} -> {path}"
    )
  return results

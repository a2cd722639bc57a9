"""The evaluation loop: the metrics of a model on a data source, at each image's
original size ("ncl" protocol) or IMDL-BenCo's (see ncl_jax.metrics), with the
prediction function of ncl_jax.serving compiled over the device mesh."""

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import numpy as np
from absl import logging
from tqdm import tqdm

from ncl_jax import metrics
from ncl_jax.evaluation.pictures import summary_picture
from ncl_jax.input import imaging, input_pipeline
from ncl_jax.models import conv
from ncl_jax.serving import scoring
from ncl_jax.serving.prediction import predict_probabilities
from ncl_jax.training.devices import DeviceMesh


def compile_predict(model, device_mesh: DeviceMesh, views=1):
  """predict_probabilities(variables, images) compiled over the mesh; the
  predictions come back replicated, so every process computes the same metrics."""
  return jax.jit(
    functools.partial(predict_probabilities, model, views=views),
    in_shardings=(device_mesh.replicated, device_mesh.data_sharding),
    out_shardings=device_mesh.replicated,
    compiler_options=conv.compiler_options(model.conv_impl),
  )


def padded_batch_size(batch_size: int, num_devices: int) -> int:
  """The compiled evaluation batch: `batch_size` rounded up to a multiple of the
  devices (the extra rows are padding, marked invalid)."""
  return -(-batch_size // num_devices) * num_devices


class Evaluation(NamedTuple):
  """The metrics of an evaluation and its summary pictures."""

  metrics: dict  # see metrics.Evaluator.result, plus num_skipped and skipped
  pictures: list  # uint8 summary pictures of the first examples (if asked for)


def _add_example(evaluator, head, batch, i, probabilities, at_mask_size, imdlbenco):
  """Scores example `i` of `batch` from its map `probabilities` [height, width]:
  at its mask's original size, or at the model's input size (the mask resized
  with nearest neighbour); `head` (or None: the evaluator scores the map) gives
  the image score."""
  label = batch["label"][i]
  if not at_mask_size:
    score = head(probabilities) if head else None
    evaluator.add(probabilities, batch["mask"][i], label, score=score)
    return
  target = batch["original_mask"][i]
  at_size = imaging.resize_probabilities(probabilities, target.shape)
  if imdlbenco:
    region = batch["region"][i]
    score = head(at_size[np.asarray(region, bool)][None]) if head else None
    evaluator.add(at_size, target, label, region=region, score=score)
  else:
    score = head(at_size) if head else None
    evaluator.add(at_size, target, label, score=score)


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
  imdlbenco = protocol in input_pipeline.IMDLBENCO_PROTOCOLS
  if imdlbenco:
    evaluator = metrics.ImdlBencoEvaluator(config.eval_threshold)
  else:
    evaluator = metrics.Evaluator(config.eval_threshold, config.image_score_quantile)
  at_mask_size = config.eval_at_original_size or imdlbenco
  head = scoring.head_scorer(config, variables)  # None: the evaluator scores the map
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
      _add_example(evaluator, head, batch, i, probabilities[i], at_mask_size, imdlbenco)
      if len(pictures) < num_pictures:
        pictures.append(
          summary_picture(batch["image"][i], batch["mask"][i], probabilities[i], config)
        )
  for reason in skipped:
    logging.warning("skipped an evaluation example: %s", reason)
  return Evaluation(
    {**evaluator.result(), "num_skipped": len(skipped), "skipped": skipped}, pictures
  )

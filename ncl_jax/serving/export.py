"""A trained model as StableHLO (jax.export) plus its variables: what a JAX user
runs without our model code.

  directory/model.stablehlo   the prediction function, [batch, S, S, 3] -> [batch, S, S]
  directory/variables.npz     its parameters and BatchNorm statistics (an ensemble's
                              stacked on a leading [members] axis)
  directory/export.json       input shape, normalization, views and the image score
"""

import functools
import io
import json

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np

from ncl_jax import paths
from ncl_jax.models import image_head
from ncl_jax.normalization import IMAGENET_MEAN, IMAGENET_STD
from ncl_jax.serving import scoring
from ncl_jax.serving.prediction import predict_probabilities


def export(predictor, directory):
  """Writes `predictor`'s prediction function as serialized StableHLO (jax.export)
  with its parameters and input contract, runnable without the model code (see
  `load_exported`). Returns the directory."""
  directory = paths.resolve(directory)
  directory.mkdir(parents=True, exist_ok=True)
  shape = (predictor.batch_size, predictor.image_size, predictor.image_size, 3)
  forward = functools.partial(
    predict_probabilities, predictor.model, views=predictor.views, members=predictor.members
  )
  exported = jax.export.export(jax.jit(forward))(
    jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), predictor.variables),
    jax.ShapeDtypeStruct(shape, jnp.float32),
  )
  (directory / "model.stablehlo").write_bytes(exported.serialize())
  flat = flax.traverse_util.flatten_dict(
    flax.serialization.to_state_dict(predictor.variables), sep="/"
  )
  with (directory / "variables.npz").open("wb") as file:
    np.savez(file, **{k: np.asarray(v) for k, v in flat.items()})
  (directory / "export.json").write_text(
    json.dumps(
      {
        "input_shape": list(shape),
        "image_size": predictor.image_size,
        "mean": IMAGENET_MEAN.tolist(),
        "std": IMAGENET_STD.tolist(),
        "views": predictor.views,
        # An ensemble: the variables are this many networks' ([members, ...] arrays),
        # their maps averaged inside the function.
        "members": predictor.members,
        "output": "manipulation probabilities [batch, S, S]",
        # The image score: where `image_head` is given, the logistic regression of its
        # statistics of an image's map; else this quantile of the map. Edited above
        # the threshold.
        "image_score_quantile": predictor.config.image_score_quantile,
        "image_head": image_head_description(predictor),
        "decision_threshold": predictor.decision_threshold,
        "model": predictor.model_info,
      },
      indent=2,
    )
  )
  return directory


def image_head_description(predictor):
  """The image-level head's statistics and weights (None for a model without one)."""
  weights = scoring.head_weights(predictor.config, predictor.variables)
  if weights is None:
    return None
  return {
    "statistics": list(image_head.STATISTICS),
    "of": "the image's probability map",
    "kernel": [float(value) for value in weights[0]],
    "bias": weights[1],
    "score": "sigmoid(statistics . kernel + bias)",
  }


def load_exported(directory):
  """(function of float32 [batch, S, S, 3] normalized images -> probabilities, metadata)."""
  directory = paths.resolve(directory)
  exported = jax.export.deserialize(bytearray((directory / "model.stablehlo").read_bytes()))
  with np.load(
    io.BytesIO((directory / "variables.npz").read_bytes()), allow_pickle=False
  ) as archive:
    variables = flax.traverse_util.unflatten_dict({k: archive[k] for k in archive.files}, sep="/")
  metadata = json.loads((directory / "export.json").read_text())
  return (lambda images: np.asarray(exported.call(variables, jnp.asarray(images)))), metadata

"""Our IMDL-BenCo protocol, end to end, against IMDL-BenCo's own pipeline.

The fixture's files are built by our iml_folder builder from IMDL-BenCo's JSON list
format and evaluated by `evaluation.loop.evaluate` with the fixture's fixed model
(a function of the normalized input), in both test modes; the expected numbers
come from IMDL-BenCo's dataset, transforms and evaluators on the same files and
model (tests/fixtures/make_imdlbenco_pipeline_expected.py). Equal to 1e-6 only if
the images reach the model as IMDL-BenCo feeds them (resize or pad), masks are
binarized and resized as it does, the threshold is strict, authentic images stay
out of the pixel means and the shape mask bounds what is scored.
"""

import json
import pathlib

import ml_collections
import numpy as np
import pytest

from ncl_jax import data
from ncl_jax.evaluation.loop import evaluate
from ncl_jax.training.devices import DeviceMesh
from tests.imdlbenco_pipeline_fixture import fixed_map, write_dataset

EXPECTED = pathlib.Path(__file__).parent / "golden" / "imdlbenco_pipeline_expected.json"


@pytest.fixture(name="source", scope="module")
def fixture_source(tmp_path_factory):
  root = tmp_path_factory.mktemp("imdlbenco_pipeline")
  listing = write_dataset(root / "files")
  builder = data.ensure_built(
    {
      "name": "iml_folder",
      "manual_dir": str(listing),
      "data_dir": str(root / "tfds"),
      "options": {"folder_name": "pipeline"},
    },
    log=lambda *_: None,
  )
  return builder.as_data_source("full")


@pytest.mark.parametrize("protocol,size", [("imdlbenco", 512), ("imdlbenco_pad", 1024)])
def test_our_protocol_matches_imdlbenco_end_to_end(source, protocol, size):
  expected = json.loads(EXPECTED.read_text())["modes"][protocol]
  config = ml_collections.ConfigDict(
    {
      "eval_threshold": 0.5,
      "image_score_quantile": 1.0,
      "eval_at_original_size": False,
      "eval_batch_size": 2,
      "image_size": size,
      "input": {"num_threads": 1, "mask_size_policy": "resize"},
    }
  )
  result = evaluate(
    lambda variables, images: fixed_map(np.asarray(images)),
    DeviceMesh(),
    None,
    source,
    config,
    protocol=protocol,
  ).metrics
  for key, value in expected["pixel_means_over_manipulated"].items():
    assert result[key] == pytest.approx(value, abs=1e-6), key
  assert result["image_auc"] == pytest.approx(expected["image_auc"], abs=1e-6)
  assert result["image_f1"] == pytest.approx(expected["image_f1"], abs=1e-6)
  assert result["metric_num_images"]["pixel_f1"] == sum(expected["labels"])
  assert result["metric_num_images"]["image_auc"] == len(expected["labels"])

"""The synthetic benchmark: deterministic, realistic manipulations, built without TF."""
import importlib.util
import io
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from ncl_jax.data.ncl_synthetic import generator
from tests.conftest import REPO_ROOT, TINY_DATASET_OPTIONS


def test_generator_is_deterministic_and_varied():
  a = generator.generate_example(3, "train", 11)
  b = generator.generate_example(3, "train", 11)
  c = generator.generate_example(3, "test", 11)
  assert a.image_bytes == b.image_bytes and np.array_equal(a.mask, b.mask)
  assert a.image_bytes != c.image_bytes
  examples = [generator.generate_example(0, "train", i, image_size=64) for i in range(80)]
  kinds = {e.manipulation_type for e in examples}
  shapes = {e.region_shape for e in examples if e.manipulation_type != "authentic"}
  formats = {e.image_format for e in examples}
  assert kinds == set(generator.MANIPULATION_TYPES)
  assert shapes == set(generator.REGION_SHAPES)
  assert formats == {"jpeg", "png"}
  for e in examples:
    image = Image.open(io.BytesIO(e.image_bytes))
    assert image.size == (64, 64) and e.mask.shape == (64, 64)
    assert (e.mask.any()) == (e.manipulation_type != "authentic")
    if e.mask.any():
      assert 0.005 < e.mask.mean() < 0.65


def test_default_difficulty_is_not_separable_by_colour():
  """A per-pixel colour classifier (logistic regression on RGB and its square)
  trained on some images must do poorly on others: the region is colour-matched."""
  from sklearn.linear_model import LogisticRegression

  def pixels(indices):
    features, labels = [], []
    for i in indices:
      e = generator.generate_example(0, "train", i, image_size=64)
      if e.manipulation_type == "authentic":
        continue
      rgb = np.asarray(Image.open(io.BytesIO(e.image_bytes)).convert("RGB"), np.float32) / 255
      rgb = rgb.reshape(-1, 3)
      features.append(np.concatenate([rgb, rgb**2], 1))
      labels.append(e.mask.reshape(-1))
    return np.concatenate(features), np.concatenate(labels)

  from sklearn.metrics import roc_auc_score
  train_x, train_y = pixels(range(0, 40))
  test_x, test_y = pixels(range(40, 80))
  classifier = LogisticRegression(max_iter=500).fit(train_x, train_y)
  auc = roc_auc_score(test_y, classifier.predict_proba(test_x)[:, 1])
  assert auc < 0.65, auc


def test_difficulty_zero_is_easier_than_default():
  """At difficulty 0 colour is never matched: the pasted region's colour statistics
  differ from what was there far more than at the default difficulty."""
  def colour_gap(difficulty):
    gaps = []
    for i in range(60):
      e = generator.generate_example(0, "train", i, 64, difficulty)
      if e.manipulation_type != "splicing":
        continue
      rgb = np.asarray(Image.open(io.BytesIO(e.image_bytes)).convert("RGB"), np.float32)
      inside, outside = rgb[e.mask > 0].mean(0), rgb[e.mask == 0].mean(0)
      gaps.append(np.abs(inside - outside).mean())
    return np.mean(gaps)
  assert colour_gap(0.0) > 1.3 * colour_gap(0.5)


def test_build_and_read_without_tensorflow(tmp_path):
  """Build and read the ArrayRecord dataset in a fresh process of an environment
  without TensorFlow, then check every example's fields against the generator."""
  script = textwrap.dedent(f"""
      import importlib.util, sys
      assert importlib.util.find_spec("tensorflow") is None
      from ncl_jax import data
      builder = data.ensure_built({{"name": "ncl_synthetic", "data_dir": {str(tmp_path)!r},
                                   "options": {TINY_DATASET_OPTIONS!r}}}, log=lambda *_: None)
      assert "tensorflow" not in sys.modules
      source = builder.as_data_source("validation")
      print(len(source), sorted(r["file_name"].decode() for r in source))
      """)
  assert importlib.util.find_spec("tensorflow") is None, "TensorFlow must not be installed"
  result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.strip().splitlines()[-1].startswith("6 [")

  from ncl_jax import data, input_pipeline
  builder = data.get_builder({"name": "ncl_synthetic", "data_dir": str(tmp_path),
                              "options": TINY_DATASET_OPTIONS})
  assert builder.is_prepared()
  for split, count in (("train", 24), ("validation", 6), ("test", 6)):
    source = builder.as_data_source(split)
    assert len(source) == count
    for record in source:
      name = record["file_name"].decode()
      index = int(name.split("_")[1].split(".")[0])
      expected = generator.generate_example(
          TINY_DATASET_OPTIONS["seed"], split, index, TINY_DATASET_OPTIONS["image_size"],
          TINY_DATASET_OPTIONS["difficulty"], TINY_DATASET_OPTIONS["authentic_fraction"])
      assert record["image"] == expected.image_bytes     # original bytes, not re-encoded
      assert record["image_format"].decode() == expected.image_format
      mask = np.asarray(Image.open(io.BytesIO(record["mask"])))
      assert set(np.unique(mask)) <= {0, 255}
      np.testing.assert_array_equal(mask > 0, expected.mask > 0)
      assert record["label"] == int(expected.mask.any())
      assert record["manipulation_type"].decode() == expected.manipulation_type
      assert (record["height"], record["width"]) == (64, 64)
      example = input_pipeline.decode_example(record)
      assert example["image"].shape == (64, 64, 3)


def test_different_options_get_different_directories():
  from ncl_jax import data
  a = data.get_builder({"name": "ncl_synthetic", "data_dir": "/tmp/x", "options": {"seed": 1}})
  b = data.get_builder({"name": "ncl_synthetic", "data_dir": "/tmp/x", "options": {"seed": 2}})
  c = data.get_builder({"name": "ncl_synthetic", "data_dir": "/tmp/x", "options": {}})
  assert len({a.data_path, b.data_path, c.data_path}) == 3
  assert c.builder_config.name == "default"

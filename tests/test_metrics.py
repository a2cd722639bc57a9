"""Metrics against scikit-learn."""

import math

import numpy as np
import pytest
from sklearn.metrics import f1_score, jaccard_score, precision_recall_curve, roc_auc_score

from ncl_jax import metrics


def quantized(x):
  return metrics.quantize(x) / (metrics.NUM_BINS - 1)


def sklearn_best_f1(scores, labels):
  precision, recall, _ = precision_recall_curve(labels, scores)
  f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
  return f1.max()


def test_roc_auc_matches_sklearn_with_ties():
  rng = np.random.default_rng(0)
  labels = rng.random(500) < 0.3
  scores = np.round(rng.random(500) + 0.3 * labels, 1)  # many ties
  assert metrics.roc_auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
  assert math.isnan(metrics.roc_auc(scores, np.ones(500)))


def test_histogram_auc_and_best_f1_match_sklearn():
  rng = np.random.default_rng(1)
  labels = rng.random(20_000) < 0.2
  scores = np.clip(rng.normal(0.3 + 0.3 * labels, 0.2), 0, 1)
  positive, negative = metrics.class_histograms(scores, labels)
  q = quantized(scores)
  assert metrics.auc_from_histograms(positive, negative) == pytest.approx(
    roc_auc_score(labels, q), abs=1e-10
  )
  assert metrics.best_f1_from_histograms(positive, negative) == pytest.approx(
    sklearn_best_f1(q, labels), abs=1e-10
  )
  # quantization error on the raw scores is negligible
  assert metrics.auc_from_histograms(positive, negative) == pytest.approx(
    roc_auc_score(labels, scores), abs=1e-4
  )


def test_f1_and_iou_match_sklearn():
  rng = np.random.default_rng(2)
  target, prediction = rng.random(1000) < 0.4, rng.random(1000) < 0.5
  f1, iou = metrics.f1_and_iou(prediction, target)
  assert f1 == pytest.approx(f1_score(target, prediction))
  assert iou == pytest.approx(jaccard_score(target, prediction))


def test_evaluator_against_sklearn_per_image_and_dataset_level():
  rng = np.random.default_rng(3)
  evaluator = metrics.Evaluator()
  per_image = {"f1": [], "iou": [], "best": [], "auc": []}
  all_scores, all_labels, image_scores, image_labels = [], [], [], []
  for i in range(6):
    shape = (20 + i, 30)
    mask = np.zeros(shape, np.uint8)
    if i < 4:  # 4 manipulated, 2 authentic images
      mask[2 : 10 + i, 5:20] = 1
    prob = np.clip(0.5 * mask + rng.random(shape) * 0.6, 0, 1).astype(np.float32)
    evaluator.add(prob, mask)
    image_scores.append(prob.max())
    image_labels.append(int(mask.any()))
    if mask.any():
      q, m = quantized(prob).ravel(), mask.ravel()
      per_image["f1"].append(f1_score(m, prob.ravel() > 0.5))
      per_image["iou"].append(jaccard_score(m, prob.ravel() > 0.5))
      per_image["best"].append(sklearn_best_f1(q, m))
      per_image["auc"].append(roc_auc_score(m, q))
      all_scores.append(q)
      all_labels.append(m)
  result = evaluator.result()
  assert result["pixel_f1"] == pytest.approx(np.mean(per_image["f1"]))
  assert result["pixel_iou"] == pytest.approx(np.mean(per_image["iou"]))
  assert result["pixel_f1_best"] == pytest.approx(np.mean(per_image["best"]))
  assert result["pixel_auc"] == pytest.approx(np.mean(per_image["auc"]))
  assert result["pixel_auc_pooled"] == pytest.approx(
    roc_auc_score(np.concatenate(all_labels), np.concatenate(all_scores))
  )
  assert result["image_auc"] == pytest.approx(roc_auc_score(image_labels, image_scores))
  predicted = np.array(image_scores) > 0.5
  assert result["image_accuracy"] == pytest.approx(np.mean(predicted == np.array(image_labels)))
  assert result["image_f1"] == pytest.approx(f1_score(image_labels, predicted))
  assert (result["num_images"], result["num_manipulated"], result["num_authentic"]) == (6, 4, 2)
  assert result["metric_num_images"]["pixel_f1"] == 4
  assert result["metric_num_images"]["image_auc"] == 6


def test_image_score_is_a_quantile_of_the_map():
  rng = np.random.default_rng(5)
  maps = [rng.random((12 + i, 9)).astype(np.float32) ** (1 + i) for i in range(6)]
  labels = [1, 0, 1, 1, 0, 0]
  assert metrics.image_score(maps[0]) == float(maps[0].max())
  assert metrics.image_score(maps[0], 0.9) == pytest.approx(np.quantile(maps[0], 0.9))
  evaluator = metrics.Evaluator(image_score_quantile=0.9)
  for probabilities, label in zip(maps, labels):
    evaluator.add(probabilities, np.zeros(probabilities.shape, np.uint8), label)
  assert evaluator.result()["image_auc"] == pytest.approx(
    roc_auc_score(labels, [np.quantile(p, 0.9) for p in maps])
  )


def test_evaluator_perfect_and_trivial_predictions():
  mask = np.zeros((16, 16), np.uint8)
  mask[4:8, 4:12] = 1
  perfect = metrics.Evaluator()
  perfect.add(mask.astype(np.float32), mask)
  assert perfect.result()["pixel_f1"] == 1.0 and perfect.result()["pixel_auc"] == 1.0
  all_tampered = metrics.Evaluator()
  all_tampered.add(np.ones((16, 16), np.float32), mask)
  assert all_tampered.result()["pixel_f1"] == pytest.approx(2 * 32 / (32 + 256))
  with pytest.raises(ValueError, match="differ in size"):
    perfect.add(np.zeros((8, 8)), mask)


def test_imdlbenco_protocol_equals_imdlbenco_own_metric_code():
  """Expected values come from running IMDL-BenCo's PixelF1, PixelIOU and PixelAUC on
  the same predictions (tests/fixtures/make_imdlbenco_expected.py). Authentic
  images score 0 there; IMDL-BenCo's test sets hold manipulated images only, so the
  pixel means are over the manipulated images, and the image metrics over all."""
  import json
  import pathlib

  from tests.imdlbenco_fixture import fixed_predictions

  expected = json.loads(
    (pathlib.Path(__file__).parent / "golden" / "imdlbenco_expected.json").read_text()
  )
  evaluator = metrics.ImdlBencoEvaluator()
  for (probabilities, mask), row in zip(fixed_predictions(), expected["per_image"]):
    f1, iou, auc = metrics.imdlbenco_pixel_scores(probabilities, mask)
    np.testing.assert_allclose(
      [f1, iou, auc], [row["pixel_f1"], row["pixel_iou"], row["pixel_auc"]], atol=2e-6
    )
    evaluator.add(probabilities, mask)
  result = evaluator.result()
  manipulated = expected["per_image"][:5]  # the fixture's first five have an edit
  for key, over_all in expected["means_over_all_images"].items():
    over_manipulated = np.mean([row[key] for row in manipulated])
    assert result[key] == pytest.approx(over_manipulated, abs=2e-6), key
    # IMDL-BenCo's mean over all seven, with the two authentic images' zeros in it
    assert over_all == pytest.approx(over_manipulated * 5 / 7, abs=2e-6), key
  assert result["num_images"] == 7 and result["num_authentic"] == 2
  assert result["metric_num_images"] == {
    "pixel_f1": 5,
    "pixel_iou": 5,
    "pixel_auc": 5,
    "image_auc": 7,
    "image_f1": 7,
  }
  assert expected["per_image"][-1] == {"pixel_f1": 0.0, "pixel_iou": 0.0, "pixel_auc": 0.0}


def test_a_manipulated_image_whose_mask_vanished_is_scored_not_dropped():
  evaluator = metrics.Evaluator()
  evaluator.add(np.full((4, 4), 0.9, np.float32), np.zeros((4, 4), np.uint8), label=1)
  evaluator.add(np.full((4, 4), 0.1, np.float32), np.zeros((4, 4), np.uint8), label=0)
  result = evaluator.result()
  assert result["num_masks_empty"] == 1 and result["metric_num_images"]["pixel_f1"] == 1
  assert result["pixel_f1"] == 0.0 and result["num_manipulated"] == 1

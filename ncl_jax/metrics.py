"""Localization and detection metrics (NumPy), as image manipulation papers report them.

Two protocols (`config.eval_protocol`):

- "ncl" (`Evaluator`): pixel metrics per image, averaged over manipulated images
  (authentic images have no positive pixel and are excluded); a manipulated image
  whose mask is empty at the evaluated size (a region that vanished in resizing)
  is scored 0, never dropped, and counted; `pixel_auc_pooled` pools every pixel
  of the manipulated images. AUC and best-threshold F1 come from histograms of
  the probabilities quantized to 1/65535: exact for the quantized scores and
  linear in the number of pixels, so 4000x4000 images cost no sort.
- "imdlbenco" (`ImdlBencoEvaluator`): IMDL-BenCo's evaluator (see its docstring):
  its per-image pixel formulas averaged over the manipulated images, image metrics
  over all.

Image metrics use an image score over all images: a quantile of the probability map
(`image_score`; the max by default, as the papers score a segmentation model and
IMDL-BenCo scores MVSS-Net; its other models output their own image label).
"""

import math

import numpy as np

NUM_BINS = 65536
THRESHOLD = 0.5


def quantize(probabilities) -> np.ndarray:
  """float [...] in [0, 1] -> int bins in [0, NUM_BINS)."""
  return np.clip(
    np.rint(np.asarray(probabilities, np.float64) * (NUM_BINS - 1)), 0, NUM_BINS - 1
  ).astype(np.int64)


def image_score(probabilities, quantile: float = 1.0) -> float:
  """An image's detection score: the `quantile` of its probability map [H, W];
  1.0 is the max."""
  probabilities = np.asarray(probabilities)
  return float(probabilities.max() if quantile >= 1.0 else np.quantile(probabilities, quantile))


def class_histograms(probabilities, labels):
  """(positive counts, negative counts), each int64 [NUM_BINS], of quantized scores."""
  bins = quantize(probabilities).ravel()
  labels = np.asarray(labels).ravel().astype(bool)
  positive = np.bincount(bins[labels], minlength=NUM_BINS)
  negative = np.bincount(bins[~labels], minlength=NUM_BINS)
  return positive, negative


def auc_from_histograms(positive, negative) -> float:
  """ROC AUC (ties count one half); NaN when either class is empty."""
  num_pos, num_neg = positive.sum(), negative.sum()
  if num_pos == 0 or num_neg == 0:
    return math.nan
  negatives_below = np.cumsum(negative) - negative
  wins = np.sum(positive * (negatives_below + 0.5 * negative), dtype=np.float64)
  return float(wins / (float(num_pos) * float(num_neg)))


def best_f1_from_histograms(positive, negative) -> float:
  """max over thresholds t of F1(score >= t); 0 when there is no positive."""
  num_pos = positive.sum()
  if num_pos == 0:
    return 0.0
  true_pos = np.cumsum(positive[::-1])  # predicted positive: bins >= t
  false_pos = np.cumsum(negative[::-1])
  f1 = 2.0 * true_pos / (true_pos + false_pos + num_pos)
  return float(f1.max())


def roc_auc(scores, labels) -> float:
  """Exact ROC AUC by ranks (Mann-Whitney U, ties averaged); NaN for one class."""
  scores = np.asarray(scores, np.float64).ravel()
  labels = np.asarray(labels).ravel().astype(bool)
  num_pos, num_neg = labels.sum(), (~labels).sum()
  if num_pos == 0 or num_neg == 0:
    return math.nan
  order = np.argsort(scores, kind="mergesort")
  sorted_scores = scores[order]
  ranks = np.empty_like(scores)
  ranks[order] = np.arange(1, len(scores) + 1)
  # average the ranks of tied scores
  unique, inverse, counts = np.unique(sorted_scores, return_inverse=True, return_counts=True)
  first = np.cumsum(counts) - counts + 1
  ranks[order] = (first + (counts - 1) / 2.0)[inverse]
  u_statistic = ranks[labels].sum() - num_pos * (num_pos + 1) / 2.0
  return float(u_statistic / (num_pos * num_neg))


def f1_and_iou(prediction, target):
  """Binary F1 and IoU of bool arrays; (1, 1) when both are empty."""
  prediction, target = np.asarray(prediction, bool), np.asarray(target, bool)
  true_pos = np.sum(prediction & target)
  false_pos = np.sum(prediction & ~target)
  false_neg = np.sum(~prediction & target)
  if true_pos + false_pos + false_neg == 0:
    return 1.0, 1.0
  return (
    float(2 * true_pos / (2 * true_pos + false_pos + false_neg)),
    float(true_pos / (true_pos + false_pos + false_neg)),
  )


def _mean(values):
  return float(np.mean(values)) if values else math.nan


class Evaluator:
  """Accumulates one probability map per image, memory bounded by the histograms."""

  def __init__(self, threshold: float = THRESHOLD, image_score_quantile: float = 1.0):
    self.threshold, self.image_score_quantile = threshold, image_score_quantile
    self.pixel_f1, self.pixel_iou, self.pixel_f1_best, self.pixel_auc = [], [], [], []
    self.pooled_positive = np.zeros(NUM_BINS, np.int64)
    self.pooled_negative = np.zeros(NUM_BINS, np.int64)
    self.image_scores, self.image_labels = [], []
    self.num_masks_empty = 0

  def add(self, probabilities, mask, label=None, score=None):
    """probabilities: float [H, W] in [0, 1]; mask: {0, 1} [H, W] at the same size;
    label: 1 manipulated, 0 authentic (default: whether the mask has a positive);
    score: the image score (default: `image_score_quantile` of the map)."""
    probabilities = np.asarray(probabilities, np.float32)
    mask = np.asarray(mask).astype(bool)
    if probabilities.shape != mask.shape:
      raise ValueError(f"prediction {probabilities.shape} and mask {mask.shape} differ in size")
    label = int(mask.any()) if label is None else int(label)
    if score is None:
      score = image_score(probabilities, self.image_score_quantile)
    self.image_scores.append(float(score))
    self.image_labels.append(label)
    if not label:
      return  # authentic: no pixel metric is defined
    if not mask.any():  # manipulated, but its region vanished: scored 0, never dropped
      self.num_masks_empty += 1
      for values in (self.pixel_f1, self.pixel_iou, self.pixel_f1_best):
        values.append(0.0)
      return
    f1, iou = f1_and_iou(probabilities > self.threshold, mask)
    self.pixel_f1.append(f1)
    self.pixel_iou.append(iou)
    positive, negative = class_histograms(probabilities, mask)
    self.pixel_f1_best.append(best_f1_from_histograms(positive, negative))
    auc = auc_from_histograms(positive, negative)
    if not math.isnan(auc):  # undefined for an all-manipulated image
      self.pixel_auc.append(auc)
    self.pooled_positive += positive
    self.pooled_negative += negative

  def result(self) -> dict:
    """The metrics of every image added (see the module)."""
    scores, labels = np.array(self.image_scores), np.array(self.image_labels, bool)
    predicted = scores > self.threshold
    image_f1 = f1_and_iou(predicted, labels)[0] if labels.any() or predicted.any() else math.nan
    return {
      "pixel_f1": _mean(self.pixel_f1),
      "pixel_f1_best": _mean(self.pixel_f1_best),
      "pixel_iou": _mean(self.pixel_iou),
      "pixel_auc": _mean(self.pixel_auc),
      "pixel_auc_pooled": auc_from_histograms(self.pooled_positive, self.pooled_negative),
      "image_auc": roc_auc(scores, labels) if len(scores) else math.nan,
      "image_accuracy": float(np.mean(predicted == labels)) if len(scores) else math.nan,
      "image_f1": image_f1,
      "num_images": len(scores),
      "num_manipulated": int(labels.sum()),
      "num_authentic": int((~labels).sum()),
      "num_masks_empty": self.num_masks_empty,
      # How many images each metric averaged over (authentic images are excluded
      # from pixel metrics, all-manipulated ones and empty masks from the pixel AUCs).
      "metric_num_images": {
        "pixel_f1": len(self.pixel_f1),
        "pixel_f1_best": len(self.pixel_f1_best),
        "pixel_iou": len(self.pixel_iou),
        "pixel_auc": len(self.pixel_auc),
        "pixel_auc_pooled": len(self.pixel_f1) - self.num_masks_empty,
        "image_auc": len(scores),
        "image_accuracy": len(scores),
        "image_f1": len(scores),
      },
    }


def imdlbenco_pixel_scores(probabilities, mask, threshold=THRESHOLD):
  """(F1, IoU, AUC) of one image as IMDL-BenCo's PixelF1, PixelIOU and PixelAUC
  compute them (evaluation/{F1,IOU,AUC}.py, "origin" mode, no padding mask):

  F1 = 2PR / (P + R + 1e-8) with P = TP / (TP + FP + 1e-8), R = TP / (TP + FN + 1e-8);
  IoU = |pred & mask| / (|pred| + |mask| - |pred & mask| + 1e-8); AUC by sorting
  the scores in decreasing order and integrating the ROC curve with the
  trapezoidal rule, without averaging tied scores (IMDL-BenCo's order among ties
  is the unspecified one of torch.argsort; here it is stable), and 0 for a mask
  without a positive pixel. So an authentic image scores 0 on all three.
  """
  scores = np.asarray(probabilities, np.float64).ravel()
  truth = np.asarray(mask).astype(np.float64).ravel()
  predicted = (scores > threshold).astype(np.float64)
  true_pos = np.sum(predicted * truth)
  false_pos = np.sum(predicted * (1 - truth))
  false_neg = np.sum((1 - predicted) * truth)
  precision = true_pos / (true_pos + false_pos + 1e-8)
  recall = true_pos / (true_pos + false_neg + 1e-8)
  f1 = 2 * precision * recall / (precision + recall + 1e-8)
  iou = true_pos / (np.sum(predicted) + np.sum(truth) - true_pos + 1e-8)
  if truth.sum() == 0:
    return float(f1), float(iou), 0.0
  order = np.argsort(-scores, kind="stable")
  sorted_truth = truth[order]
  tpr = np.cumsum(sorted_truth) / sorted_truth.sum()
  fpr = np.cumsum(1 - sorted_truth) / (len(sorted_truth) - sorted_truth.sum())
  auc = np.sum((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1]) / 2)
  return float(f1), float(iou), float(auc)


class ImdlBencoEvaluator:
  """IMDL-BenCo's protocol (scu-zjz/IMDLBenCo at commit 3efef9b, its
  training_scripts/tester.py): pixel F1, IoU and AUC per image as
  `imdlbenco_pixel_scores`, averaged over the manipulated images, and image-level
  AUC (scikit-learn's roc_auc_score, ties averaged) and F1 (ImageF1: TP, FP, FN over
  images, 1e-9 guards) from the image score max(map) over every image.

  IMDL-BenCo's tester averages the pixel metrics over every image of a test set,
  and its test sets hold manipulated images only; ours may hold authentic images
  too (CASIA v1's Au/, Columbia's and COVERAGE's originals), which its pixel
  metrics would score 0, so they are left out of the pixel means here and counted
  in the image metrics. `result()["metric_num_images"]` says how many images each
  metric covers. Predictions and masks are given at the protocol's size (512x512,
  or 1024x1024 padded with a `region`: IMDL-BenCo's shape mask, the image's own
  pixels, outside which neither the pixel metrics nor the image score look).
  """

  def __init__(self, threshold: float = THRESHOLD):
    self.threshold = threshold
    self.f1, self.iou, self.auc = [], [], []
    self.image_scores, self.image_labels = [], []

  def add(self, probabilities, mask, label=None, region=None, score=None):
    """Adds one image's probabilities [H, W] and mask (label: from the mask if None);
    `region`: bool [H, W], the pixels scored (None: all); `score`: the model's own
    image-level probability, as IMDL-BenCo's tester takes a model's `pred_label`
    (None: the map's max)."""
    mask = np.asarray(mask).astype(bool)
    label = int(mask.any()) if label is None else int(label)
    if region is not None:
      region = np.asarray(region, bool)
      probabilities, mask = np.asarray(probabilities)[region], mask[region]
    f1, iou, auc = imdlbenco_pixel_scores(probabilities, mask, self.threshold)
    self.f1.append(f1)
    self.iou.append(iou)
    self.auc.append(auc)
    # Without an image-level output, the map's max, as for MVSS-Net.
    self.image_scores.append(image_score(probabilities) if score is None else float(score))
    self.image_labels.append(label)

  def result(self) -> dict:
    """IMDL-BenCo's pixel metrics (means over the manipulated images) and image
    metrics (over every image)."""
    scores, labels = np.array(self.image_scores), np.array(self.image_labels, bool)
    manipulated = np.flatnonzero(labels)
    predicted = scores > self.threshold
    true_pos = float(np.sum(predicted & labels))
    precision = true_pos / (true_pos + float(np.sum(predicted & ~labels)) + 1e-9)
    recall = true_pos / (true_pos + float(np.sum(~predicted & labels)) + 1e-9)
    return {
      "protocol": "imdlbenco",
      "pixel_f1": _mean([self.f1[i] for i in manipulated]),
      "pixel_iou": _mean([self.iou[i] for i in manipulated]),
      "pixel_auc": _mean([self.auc[i] for i in manipulated]),
      "image_auc": roc_auc(scores, labels) if len(scores) else math.nan,
      "image_f1": 2 * precision * recall / (precision + recall + 1e-9),
      "num_images": len(scores),
      "num_manipulated": int(labels.sum()),
      "num_authentic": int((~labels).sum()),
      "metric_num_images": {
        **dict.fromkeys(("pixel_f1", "pixel_iou", "pixel_auc"), len(manipulated)),
        **dict.fromkeys(("image_auc", "image_f1"), len(scores)),
      },
    }

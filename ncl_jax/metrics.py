"""Localization and detection metrics (NumPy), as image manipulation papers report them.

Pixel metrics are per image and averaged over manipulated images (authentic
images have no positive pixel and are excluded); `pixel_auc_pooled` pools every
pixel of those images. Image metrics use the image score max(probability map)
over all images. AUC and best-threshold F1 are computed from histograms of the
probabilities quantized to 1/65535: exact for the quantized scores and linear
in the number of pixels, so 4000x4000 images cost no sort.
"""
import math

import numpy as np

NUM_BINS = 65536
THRESHOLD = 0.5


def quantize(probabilities) -> np.ndarray:
  """float [...] in [0, 1] -> int bins in [0, NUM_BINS)."""
  return np.clip(np.rint(np.asarray(probabilities, np.float64) * (NUM_BINS - 1)), 0,
                 NUM_BINS - 1).astype(np.int64)


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
  true_pos = np.cumsum(positive[::-1])        # predicted positive: bins >= t
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
  return (float(2 * true_pos / (2 * true_pos + false_pos + false_neg)),
          float(true_pos / (true_pos + false_pos + false_neg)))


def _mean(values):
  return float(np.mean(values)) if values else math.nan


class Evaluator:
  """Accumulates one probability map per image, memory bounded by the histograms."""

  def __init__(self, threshold: float = THRESHOLD):
    self.threshold = threshold
    self.pixel_f1, self.pixel_iou, self.pixel_f1_best, self.pixel_auc = [], [], [], []
    self.pooled_positive = np.zeros(NUM_BINS, np.int64)
    self.pooled_negative = np.zeros(NUM_BINS, np.int64)
    self.image_scores, self.image_labels = [], []

  def add(self, probabilities, mask, label=None):
    """probabilities: float [H, W] in [0, 1]; mask: {0, 1} [H, W] at the same size;
    label: 1 manipulated, 0 authentic (default: whether the mask has a positive)."""
    probabilities = np.asarray(probabilities, np.float32)
    mask = np.asarray(mask).astype(bool)
    if probabilities.shape != mask.shape:
      raise ValueError(f"prediction {probabilities.shape} and mask {mask.shape} differ in size")
    label = int(mask.any()) if label is None else int(label)
    self.image_scores.append(float(probabilities.max()))
    self.image_labels.append(label)
    if not mask.any():
      return  # authentic: no pixel metric is defined
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
        # How many images each metric averaged over (authentic images are excluded
        # from pixel metrics, all-manipulated ones from the per-image pixel AUC).
        "metric_num_images": {
            "pixel_f1": len(self.pixel_f1), "pixel_f1_best": len(self.pixel_f1_best),
            "pixel_iou": len(self.pixel_iou), "pixel_auc": len(self.pixel_auc),
            "pixel_auc_pooled": len(self.pixel_f1), "image_auc": len(scores),
            "image_accuracy": len(scores), "image_f1": len(scores)},
    }

"""tools/evaluate_predictions.py, the scorer of the held-out photos, against NumPy
on predictions laid out as `ncl_jax.predict` writes them; and the image score's
quantiles and map thresholds of tools/operating_points.py; the pictures of
tools/false_alarms.py."""

import io
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ncl_jax import metrics
from ncl_jax.serving import visualize
from tools import false_alarms, operating_points

ROOT = pathlib.Path(__file__).resolve().parents[1]
SIZE = 24
# kind_index: (mask rows, mask columns or None for authentic, image score, edited)
IMAGES = {
  "splicing_000": (slice(4, 12), slice(4, 12), 0.8, True),
  "copy_move_000": (slice(10, 20), slice(12, 22), 0.4, False),
  "authentic_000": (None, None, 0.5, True),
  "authentic_001": (None, None, 0.2, False),
}


def reference_f1(probabilities, mask):
  predicted = probabilities > 0.5
  true_pos = np.sum(predicted & mask)
  return 2 * true_pos / (2 * true_pos + np.sum(predicted & ~mask) + np.sum(~predicted & mask))


def reference_auc(scores, labels):
  """Every (positive, negative) pair: 1 ordered right, 1/2 tied."""
  positive, negative = scores[labels], scores[~labels]
  wins = (positive[:, None] > negative[None]).sum() + 0.5 * (
    positive[:, None] == negative[None]
  ).sum()
  return wins / (len(positive) * len(negative))


def write_predictions(folder):
  """Masks, a test list and predict's outputs; the maps and masks by name."""
  rng = np.random.default_rng(0)
  (folder / "Gt").mkdir()
  (folder / "pred").mkdir()
  entries, lines, maps, masks = [], [], {}, {}
  for name, (rows, columns, score, edited) in IMAGES.items():
    image = folder / f"{name}.jpg"
    mask = np.zeros((SIZE, SIZE), bool)
    if rows is not None:
      mask[rows, columns] = True
      mask_file = folder / "Gt" / f"{name}.png"
      Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).convert("RGB").save(mask_file)
      entries.append([str(image), str(mask_file)])
    else:
      entries.append([str(image), "Negative"])
    # Levels a prob16 file keeps exactly, in distinct bins of the histograms.
    levels = np.array([0.1, 0.3, 0.6, 0.9]) * 65535 // 1 / 65535
    probabilities = levels[
      rng.integers(0, 2, (SIZE, SIZE)) + 2 * (mask & (rng.random(mask.shape) < 0.8))
    ]
    Image.fromarray(np.round(probabilities * 65535).astype(np.uint16)).save(
      folder / "pred" / f"{name}_prob16.png"
    )
    lines.append(
      {
        "file": str(image),
        "image_score": score,
        "edited": edited,
        "outputs": {"prob16": f"{name}_prob16.png"},
      }
    )
    maps[name], masks[name] = probabilities, mask
  (folder / "test.json").write_text(json.dumps(entries))
  (folder / "pred" / "predictions.jsonl").write_text("".join(json.dumps(l) + "\n" for l in lines))
  return maps, masks


def test_figures_per_kind_match_numpy(tmp_path):
  maps, masks = write_predictions(tmp_path)
  subprocess.run(
    [
      sys.executable,
      str(ROOT / "tools" / "evaluate_predictions.py"),
      f"--predictions={tmp_path / 'pred'}",
      f"--test_list={tmp_path / 'test.json'}",
      f"--output={tmp_path / 'figures.json'}",
    ],
    check=True,
    capture_output=True,
    env={"PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin"},
  )
  figures = json.loads((tmp_path / "figures.json").read_text())["figures"]
  kinds = {"splicing": ["splicing_000"], "copy_move": ["copy_move_000"]}
  kinds["all"] = kinds["copy_move"] + kinds["splicing"]
  authentic = ["authentic_000", "authentic_001"]
  for kind, names in kinds.items():
    scores = np.array([IMAGES[n][2] for n in names + authentic])
    labels = np.array([True] * len(names) + [False] * len(authentic))
    assert figures[kind]["images"] == len(names)
    assert figures[kind]["pixel_f1"] == pytest.approx(
      np.mean([reference_f1(maps[n], masks[n]) for n in names])
    )
    assert figures[kind]["pixel_auc"] == pytest.approx(
      np.mean([reference_auc(maps[n].ravel(), masks[n].ravel()) for n in names])
    )
    assert figures[kind]["image_auc"] == pytest.approx(reference_auc(scores, labels))
    assert figures[kind]["called_edited"] == np.mean([IMAGES[n][3] for n in names])
    assert figures[kind]["all_manipulated_pixel_f1"] == pytest.approx(
      np.mean([2 * masks[n].sum() / (masks[n].sum() + masks[n].size) for n in names])
    )
  assert figures["authentic"] == {"images": 2, "called_edited": 0.5}


def test_image_score_quantiles_against_numpy():
  rng = np.random.default_rng(3)
  maps = [rng.random((20, 30)) ** (1 + 3 * (i % 2)) for i in range(41)]
  results = [("authentic" if i % 2 else "splicing", m, None, None) for i, m in enumerate(maps)]
  quantiles = [0.5, 0.99, 1.0]
  points = operating_points.score_points(["0"], quantiles)
  arrays = operating_points.operating_point_arrays(iter(results), points, [0.5])
  scores, edited = arrays["scores"], arrays["kinds"] != "authentic"
  figures = operating_points.quantile_figures(scores, edited, points, 0.05)
  for column, (quantile, figure) in enumerate(zip(quantiles, figures)):
    assert (figure["window"], figure["quantile"]) == (0.0, quantile)
    expected = np.array([np.quantile(m, quantile) for m in maps])
    np.testing.assert_allclose(scores[:, column], expected)
    positives, negatives = expected[edited], expected[~edited]
    pairs = positives[:, None] - negatives[None, :]
    auc = (np.sum(pairs > 0) + 0.5 * np.sum(pairs == 0)) / pairs.size
    assert figure["image_auc"] == pytest.approx(auc)
    # One untouched image of 20 may score above the threshold, no more.
    assert np.sum(negatives > figure["threshold"]) == 1
    assert figure["called_edited"] == pytest.approx(np.mean(positives > figure["threshold"]))


def test_window_means_against_numpy():
  """Each score's window mean is the plain mean of that window of the map."""
  probabilities = np.random.default_rng(5).random((12, 20))
  means = operating_points.window_means(probabilities, 0.25)  # 3 x 3 windows
  assert means.shape == (10, 18)
  for row, column in [(0, 0), (4, 7), (9, 17)]:
    window = probabilities[row : row + 3, column : column + 3]
    assert means[row, column] == pytest.approx(window.mean())
  np.testing.assert_array_equal(operating_points.window_means(probabilities, 0.05), probabilities)
  points = operating_points.score_points(["0", "0.25"], ["0.5", "1"])
  expected = [np.median(probabilities), probabilities.max(), np.median(means), means.max()]
  np.testing.assert_allclose(operating_points.image_scores(probabilities, points), expected)


def test_map_thresholds_against_numpy():
  rng = np.random.default_rng(4)
  kinds = ["splicing", "removal", "splicing", "authentic", "removal", "authentic"]
  maps = [rng.random((16, 24)) for _ in kinds]
  masks = [np.zeros((16, 24), bool) for _ in kinds]
  for index, mask in enumerate(masks[:3]):
    mask[2 + index : 9, 3 : 12 + 2 * index] = True
  masks[4][:, :6] = True
  results = [(k, p, m, None) for k, p, m in zip(kinds, maps, masks)]
  results.append(("removal", rng.random((16, 24)), np.zeros((16, 24), bool), None))
  thresholds = [0.3, 0.5, 0.8]
  arrays = operating_points.operating_point_arrays(iter(results), [(0.0, 1.0)], thresholds)
  figures = operating_points.threshold_figures(
    arrays["kinds"], arrays["pixel_f1"], arrays["flagged"], thresholds
  )
  for threshold, figure in zip(thresholds, figures):
    f1 = [
      0.0 if not m.any() else reference_f1(p - threshold + 0.5, m)
      for k, p, m, _ in results
      if k != "authentic"
    ]
    edited_kinds = [k for k, *_ in results if k != "authentic"]
    for kind in ("splicing", "removal"):
      expected = np.mean([f for f, k in zip(f1, edited_kinds) if k == kind])
      assert figure["pixel_f1"][kind] == pytest.approx(expected)
    assert figure["pixel_f1"]["all edited"] == pytest.approx(np.mean(f1))
    untouched = [p > threshold for k, p, *_ in results if k == "authentic"]
    assert figure["untouched_pixels_above"] == pytest.approx(np.mean(untouched))
  # At 0.5, the F1 of all edited images is the validation's own pixel F1.
  evaluator = metrics.Evaluator()
  for kind, p, m, _ in results:
    evaluator.add(p, m, label=kind != "authentic")
  assert figures[1]["pixel_f1"]["all edited"] == pytest.approx(evaluator.result()["pixel_f1"])


def test_false_alarms_are_the_highest_scores_drawn_beside_their_photos():
  rng = np.random.default_rng(6)
  photos = [rng.integers(0, 256, (6, 4, 3), dtype=np.uint8) for _ in range(5)]
  records = []
  for photo in photos:
    encoded = io.BytesIO()
    Image.fromarray(photo).save(encoded, format="PNG")
    records.append({"image": encoded.getvalue()})
  maps = [rng.random((6, 4)) for _ in photos]
  scores = [0.2, 0.9, 0.5, 0.7, 0.1]
  predictions = (("authentic", m, None, s) for m, s in zip(maps, scores))
  highest = false_alarms.highest_scoring(records, predictions, 2)
  assert [(score, records.index(record)) for score, record, _ in highest] == [(0.9, 1), (0.7, 3)]
  picture = false_alarms.photo_beside_map(records[1]["image"], highest[0][2])
  np.testing.assert_array_equal(picture[:, :4], photos[1])
  np.testing.assert_array_equal(picture[:, 4:], visualize.heatmap(maps[1]))

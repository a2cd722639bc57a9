"""tools/recipe_ab.py's average of unlike networks: each image's maps averaged and
the average scored as the first model's config scores a map (against NumPy); the
variants of the validation forgeries it measures on (configs/recipe_ab.py
VALIDATIONS): each changes its one step and leaves the training forgeries;
tools/prediction_scales.py's combinations of sizes (against NumPy)."""

import copy
import io
import types

import cv2
import ml_collections
import numpy as np
import pytest
from PIL import Image

from configs import photos
from configs import recipe_ab as recipe_arms
from ncl_jax import data
from ncl_jax.serving.predictor import Prediction, Predictor
from ncl_jax.synthesis import SynthesisConfig, edits, recipe
from tests.test_evaluate_predictions import reference_auc, reference_f1
from tools import prediction_scales, recipe_ab


def stand_in(probabilities, image_head="none"):
  """What AveragedPredictors reads of a Predictor, predicting `probabilities` [H, W]."""
  config = ml_collections.ConfigDict(
    {"model": {"image_head": image_head}, "image_score_quantile": 0.9}
  )
  return types.SimpleNamespace(
    config=config,
    model_info={"name": image_head},
    predict=lambda image: Prediction(probabilities, float(probabilities.max())),
  )


def test_the_average_of_unlike_networks_is_scored_by_the_first_config():
  maps = np.random.default_rng(0).uniform(size=(2, 12, 9)).astype(np.float32)
  prediction = recipe_ab.AveragedPredictors([stand_in(maps[0]), stand_in(maps[1])]).predict("x")
  np.testing.assert_allclose(prediction.probabilities, maps.mean(axis=0), rtol=1e-6)
  assert prediction.score == pytest.approx(np.quantile(maps.mean(axis=0), 0.9))
  assert prediction.edited is None


def test_a_network_with_an_image_head_is_refused_by_name():
  with pytest.raises(ValueError, match="pooled"):
    recipe_ab.AveragedPredictors([stand_in(np.zeros((2, 2))), stand_in(np.ones((2, 2)), "pooled")])


def test_without_the_camera_jpeg_the_crop_is_what_the_save_would_have_compressed():
  photo = np.random.default_rng(1).integers(0, 256, (150, 200, 3), np.uint8)
  knobs = SynthesisConfig(camera_long_side=(64, 96), camera_jpeg_probability=1.0)
  saved = recipe.camera_image(np.random.default_rng(3), photo, knobs)
  unsaved = recipe.camera_image(
    np.random.default_rng(3), photo, SynthesisConfig(**{**vars(knobs), "keep_camera_jpeg": False})
  )
  assert unsaved.shape == saved.shape and not np.array_equal(unsaved, saved)
  qualities = range(knobs.camera_quality[0], knobs.camera_quality[1] + 1)
  assert any(np.array_equal(edits.jpeg_roundtrip(unsaved, q), saved) for q in qualities)


def validation_pair(tmp_path, name, **knobs):
  """(the validation forgeries of two random photos, synthesized with `knobs`, and
  the same with VALIDATIONS[`name`]); the training recipe is checked unchanged."""
  rng = np.random.default_rng(0)
  for photo in ("a", "b"):
    Image.fromarray(rng.integers(0, 256, (120, 160, 3), np.uint8)).save(tmp_path / f"{photo}.jpg")
  config = {
    "name": "photo_forgeries",
    "manual_dir": str(tmp_path),
    "options": {"num_validation": 6, "validation_fraction": 0.5},
    "synthesis": {"camera_long_side": (64, 96), "camera_jpeg_probability": 1.0, **knobs},
  }
  dataset = ml_collections.ConfigDict(config)
  recipe_arms.VALIDATIONS[name](dataset)
  assert dataset.synthesis.to_dict() == config["synthesis"]
  plain, variant = data.get_builder(config), data.get_builder(dataset)
  assert plain.as_data_source("train")[0]["image"] == variant.as_data_source("train")[0]["image"]
  return plain.as_data_source("validation"), variant.as_data_source("validation")


def test_resized_before_edit_keeps_each_forgery_but_its_camera_jpeg(tmp_path):
  plain, variant = validation_pair(tmp_path, "resized_before_edit")
  for before, after in zip(plain, variant):
    assert after["manipulation_type"] == before["manipulation_type"]
    np.testing.assert_array_equal(after["mask"], before["mask"])
    assert after["image"] != before["image"]


def test_final_jpeg_saves_every_validation_file_at_its_quality(tmp_path):
  plain, variant = validation_pair(tmp_path, "final_jpeg_70")
  blank = np.zeros((16, 16, 3), np.uint8)
  at_70 = recipe.encode(blank, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 70])
  with Image.open(io.BytesIO(at_70)) as reference:
    tables = reference.quantization
  for before, after in zip(plain, variant):
    assert after["manipulation_type"] == before["manipulation_type"]
    with Image.open(io.BytesIO(after["image"])) as image:
      assert image.format == "JPEG" and image.quantization == tables


def test_final_half_size_halves_every_validation_file(tmp_path):
  # PNG files, not rescaled: a plain file is its camera image, whole.
  plain, variant = validation_pair(
    tmp_path, "final_half_size", rescale_probability=0.0, final_png_probability=1.0
  )
  for before, after in zip(plain, variant):
    assert after["manipulation_type"] == before["manipulation_type"]
    height, width = np.asarray(before["mask"]).squeeze().shape
    halved = (round(height * 0.5), round(width * 0.5))
    assert np.asarray(after["mask"]).squeeze().shape == halved
    with Image.open(io.BytesIO(after["image"])) as image:
      assert (image.height, image.width) == halved


def test_collection_gives_another_folders_run_the_arms_validation_and_keeps_its_training():
  run = photos.get_config().dataset
  run.manual_dir = "/data/my_photos"
  trained_on = copy.deepcopy(run.synthesis.to_dict())
  recipe_arms.VALIDATIONS["collection"](run)
  arms = recipe_arms.get_config("baseline").dataset
  assert (run.name, run.manual_dir) == (arms.name, arms.manual_dir)
  assert run.options.to_dict() == arms.options.to_dict()
  assert run.validation_synthesis.to_dict() == arms.validation_synthesis.to_dict()
  assert run.synthesis.to_dict() == trained_on


def test_sizes_combined_average_their_maps_before_the_figures():
  assert prediction_scales.combinations([1, 2, 3]) == [
    (1,), (2,), (3,), (1, 2), (1, 3), (2, 3), (1, 2, 3)
  ]  # fmt: skip
  rng = np.random.default_rng(5)
  kinds = ["splicing", "removal", "splicing", "authentic", "authentic"]
  maps = [{s: rng.uniform(size=(6, 5)).astype(np.float16) for s in (384, 512)} for _ in kinds]
  masks = [(rng.uniform(size=(6, 5)) > 0.5) * (k != "authentic") for k in kinds]
  result = prediction_scales.combination_figures(
    list(zip(kinds, maps, masks)), (384, 512), lambda p: float(p.max())
  )
  means = [(m[384].astype(np.float32) + m[512]) / 2 for m in maps]
  edited = np.array([k != "authentic" for k in kinds])
  f1 = [reference_f1(m, t) for m, t in zip(means, masks)]
  scores = np.array([m.max() for m in means])
  figures = result["figures"]["all edited"]
  assert result["sizes"] == [384, 512]
  assert figures["pixel_f1"] == pytest.approx(np.mean(np.array(f1)[edited]), rel=1e-5)
  assert figures["image_auc"] == pytest.approx(reference_auc(scores, edited))
  threshold = result["threshold_at_5_percent_false_alarms"]
  assert figures["called_edited"] == np.mean(scores[edited] > threshold)
  assert result["figures"]["authentic"]["called_edited"] <= 0.05


def test_each_size_predicts_with_the_shipped_network_and_leaves_it_as_it_was():
  shipped = Predictor.from_pretrained("photos-v2")
  sized = prediction_scales.sized_predictors(shipped, [384, 640])
  assert [sized[s].image_size for s in (384, 640)] == [384, 640]
  assert shipped.image_size == shipped.config.image_size == 512
  assert all(p.variables is shipped.variables and p.views == shipped.views for p in sized.values())


def test_figures_by_long_side_take_each_file_into_the_bin_of_its_long_side():
  rng = np.random.default_rng(6)
  shapes = [(6, 5), (5, 9), (12, 4), (7, 7), (3, 10), (9, 2)]
  kinds = ["splicing", "removal", "copy_move", "authentic", "authentic", "authentic"]
  results = []
  for shape, kind in zip(shapes, kinds):
    probabilities = rng.uniform(size=shape).astype(np.float32)
    mask = (rng.uniform(size=shape) > 0.5) * (kind != "authentic")
    results.append((kind, probabilities, mask, float(probabilities.max())))
  bins = prediction_scales.figures_by_long_side(results, 0.9, [8])
  assert [b["long_side"] for b in bins] == [[0, 8], [8, None]]
  for bin_, rows in zip(bins, [[0, 3], [1, 2, 4, 5]]):
    edited = [i for i in rows if kinds[i] != "authentic"]
    f1 = [reference_f1(results[i][1], results[i][2]) for i in edited]
    assert bin_["all edited"]["num_images"] == len(edited)
    assert bin_["authentic"]["num_images"] == len(rows) - len(edited)
    assert bin_["all edited"]["pixel_f1"] == pytest.approx(np.mean(f1))
    scores = np.array([results[i][3] for i in rows])
    labels = np.array([kinds[i] != "authentic" for i in rows])
    assert bin_["all edited"]["image_auc"] == pytest.approx(reference_auc(scores, labels))

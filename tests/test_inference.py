"""Predictor, predict CLI, export, robustness, pictures: against a tiny trained model."""

import io
import json
import pathlib
import subprocess

import numpy as np
import pytest
from PIL import Image

from ncl_jax import data, inference, metrics, robustness
from ncl_jax import predict as predict_cli
from ncl_jax.data import export as data_export
from ncl_jax.evaluation.loop import compile_predict, evaluate
from ncl_jax.input import input_pipeline
from ncl_jax.serving import visualize
from ncl_jax.serving.prediction import predict_probabilities
from ncl_jax.serving.restore import restore
from ncl_jax.training import train
from ncl_jax.training.devices import DeviceMesh
from tests.conftest import run_module, tiny_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_data_dir):
  """A workdir trained for 4 steps on the tiny synthetic dataset."""
  workdir = tmp_path_factory.mktemp("trained")
  config = tiny_config(tiny_data_dir)
  train.train_and_evaluate(config, str(workdir))
  return config, workdir


def test_predictor_loads_workdir_or_step_dir_without_config(trained):
  config, workdir = trained
  from_workdir = inference.Predictor.from_checkpoint(workdir)
  from_step = inference.Predictor.from_checkpoint(workdir / "checkpoints" / "4")
  image = np.random.default_rng(0).integers(0, 256, (50, 70, 3), np.uint8)
  a, b = from_workdir.predict(image), from_step.predict(image)
  assert a.probabilities.shape == (50, 70) and a.probabilities.dtype == np.float32
  np.testing.assert_array_equal(a.probabilities, b.probabilities)
  assert a.score == pytest.approx(float(a.probabilities.max()))
  assert from_workdir.image_size == config.image_size
  from_workdir.config.image_score_quantile = 0.9  # as configs/photos.py sets it
  assert from_workdir.predict(image).score == pytest.approx(np.quantile(a.probabilities, 0.9))


def test_prediction_views_average_flips_and_transposes(trained):
  predictor = inference.Predictor.from_checkpoint(trained[1])
  size = predictor.image_size
  images = np.random.default_rng(3).normal(size=(2, size, size, 3)).astype(np.float32)

  def predict(x, views=1):
    return np.asarray(
      predict_probabilities(predictor.model, predictor.variables, np.ascontiguousarray(x), views)
    )

  def flips(x):  # the mean over the four flips, each undone
    return np.mean([predict(x[:, ::a, ::b])[:, ::a, ::b] for a in (1, -1) for b in (1, -1)], 0)

  one = predict(images)
  assert not np.allclose(one, predict(images[:, :, ::-1])[:, :, ::-1], atol=1e-4)
  np.testing.assert_allclose(
    predict(images, 2), (one + predict(images[:, :, ::-1])[:, :, ::-1]) / 2, atol=1e-6
  )
  np.testing.assert_allclose(predict(images, 4), flips(images), atol=1e-6)
  transposed = images.transpose(0, 2, 1, 3)
  eight = predict(images, 8)
  np.testing.assert_allclose(
    eight, (flips(images) + flips(transposed).transpose(0, 2, 1)) / 2, atol=1e-6
  )
  np.testing.assert_allclose(predict(transposed, 8), eight.transpose(0, 2, 1), atol=1e-6)
  with pytest.raises(ValueError, match="must be square, got"):
    predict(images[:, :, : size // 2], 8)
  for call in (
    lambda: predict(images, 3),
    lambda: inference.Predictor.from_checkpoint(trained[1], views=3),
  ):
    with pytest.raises(ValueError, match=r"views must be one of \(1, 2, 4, 8\), got 3"):
      call()


def test_predictions_match_the_evaluation(trained, tiny_data_dir):
  config, workdir = trained
  expected = json.load(open(workdir / "eval" / "ncl_synthetic-test.json"))
  predictor = inference.Predictor.from_checkpoint(workdir, step=expected["checkpoint_step"])
  source = data.get_builder(config.dataset).as_data_source("test")
  evaluator = metrics.Evaluator()
  for record in source:
    example = input_pipeline.decode_example(record)
    prediction = predictor.predict(example["image"])
    evaluator.add(prediction.probabilities, example["mask"], example["label"])
  result = evaluator.result()
  for key in ("pixel_f1", "pixel_auc", "image_auc"):
    assert result[key] == pytest.approx(expected[key], abs=1e-5), key


def served(config, workdir):
  """(compiled predict, mesh, variables of checkpoint 4) of the trained workdir."""
  mesh = DeviceMesh()
  predict = compile_predict(inference.Predictor.from_checkpoint(workdir).model, mesh)
  variables = restore(str(workdir), 4, mesh.replicated).variables
  return predict, mesh, variables


def test_evaluation_at_original_or_input_size(trained, monkeypatch):
  config, workdir = trained
  predict, mesh, variables = served(config, workdir)
  from tests.test_bad_data import png_bytes, record

  rng = np.random.default_rng(7)
  mask = np.zeros((40, 50), np.uint8)
  mask[10:30, 5:25] = 255
  source = [
    record(f"{i}.png", png_bytes(rng.integers(0, 256, (40, 50, 3), np.uint8)), png_bytes(mask))
    for i in range(3)
  ]
  shapes = []
  add = metrics.Evaluator.add
  monkeypatch.setattr(
    metrics.Evaluator,
    "add",
    lambda self, prob, target, label=None, score=None: (
      shapes.append(np.shape(target)),
      add(self, prob, target, label),
    ),
  )
  evaluate(predict, mesh, variables, source, config)
  config = config.copy_and_resolve_references()
  config.eval_at_original_size = False
  result = evaluate(predict, mesh, variables, source, config).metrics
  assert shapes == [(40, 50)] * 3 + [(64, 64)] * 3
  assert result["num_images"] == 3


def test_compiled_once_for_many_sizes(trained):
  _, workdir = trained
  predictor = inference.Predictor.from_checkpoint(workdir, batch_size=4)
  rng = np.random.default_rng(1)
  images = [
    rng.integers(0, 256, shape + (3,), np.uint8)
    for shape in ((30, 40), (64, 64), (100, 33), (200, 150), (300, 90))
  ]  # 2 slide
  predictions = predictor.predict_batch(images)
  assert [p.probabilities.shape for p in predictions] == [i.shape[:2] for i in images]
  predictor.predict(images[0])
  traces = predictor.traces
  assert traces <= 3  # batches of 4, 2 and 1 at most, never once per image
  predictor.predict_batch(images[::-1])
  predictor.predict(images[3])
  assert predictor.traces == traces


def test_sliding_window_covers_and_agrees_with_resize_at_training_size(trained):
  _, workdir = trained
  corners = inference.sliding_windows(150, 100, 64, overlap=0.5)
  covered = np.zeros((150, 100), int)
  for top, left in corners:
    covered[top : top + 64, left : left + 64] += 1
  assert covered.min() >= 1
  image = np.random.default_rng(2).integers(0, 256, (64, 64, 3), np.uint8)
  sliding = inference.Predictor.from_checkpoint(workdir, strategy="sliding").predict(image)
  resized = inference.Predictor.from_checkpoint(workdir, strategy="resize").predict(image)
  np.testing.assert_allclose(sliding.probabilities, resized.probabilities, atol=1e-6)
  small = inference.Predictor.from_checkpoint(workdir, strategy="sliding").predict(image[:40])
  assert small.probabilities.shape == (40, 64)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16"])
def test_odd_modes_are_converted(tmp_path, mode):
  rgb = np.random.default_rng(3).integers(0, 256, (20, 30, 3), np.uint8)
  if mode == "I;16":
    image = Image.fromarray(rgb[..., 0].astype(np.uint16) * 257)
  else:
    image = Image.fromarray(rgb).convert(mode)
  path = tmp_path / f"x.{'tif' if mode in ('CMYK', 'I;16') else 'png'}"
  image.save(path)
  for given in (path, Image.open(path)):
    loaded = inference.load_image(given)
    assert loaded.shape == (20, 30, 3) and loaded.dtype == np.uint8
  assert inference.load_image(np.zeros((5, 6), np.uint16)).shape == (5, 6, 3)


def test_exif_orientation_is_applied(tmp_path):
  image = Image.fromarray(np.zeros((20, 30, 3), np.uint8))
  exif = image.getexif()
  exif[0x0112] = 6  # rotate 90 degrees when displayed
  image.save(tmp_path / "rotated.jpg", exif=exif.tobytes())
  assert inference.load_image(tmp_path / "rotated.jpg").shape == (30, 20, 3)


def f1_from_pngs(prediction_dir, mask_dir):
  scores = []
  for mask_path in sorted(pathlib.Path(mask_dir).glob("*.png")):
    truth = np.asarray(Image.open(mask_path)) > 0
    if not truth.any():
      continue
    predicted = np.asarray(Image.open(prediction_dir / f"{mask_path.stem}_mask.png")) > 0
    scores.append(metrics.f1_and_iou(predicted, truth)[0])
  return float(np.mean(scores))


def run_predict_cli(checkpoint, output, *args) -> subprocess.CompletedProcess:
  """`python -m ncl_jax.predict --checkpoint=... --output=... ARGS`, finished."""
  return run_module("ncl_jax.predict", f"--checkpoint={checkpoint}", f"--output={output}", *args)


def test_cli_masks_match_the_eval_json(trained, tmp_path):
  config, workdir = trained
  builder = data.get_builder(config.dataset)
  assert data_export.export_split(builder, "test", tmp_path / "test") == 6
  run = run_predict_cli(workdir, tmp_path / "out", tmp_path / "test" / "images")
  assert run.returncode == 0, run.stderr[-3000:]
  expected = json.load(open(workdir / "eval" / "ncl_synthetic-test.json"))
  assert f1_from_pngs(tmp_path / "out", tmp_path / "test" / "masks") == pytest.approx(
    expected["pixel_f1"], abs=1e-9
  )
  lines = [json.loads(line) for line in open(tmp_path / "out" / "predictions.jsonl")]
  assert len(lines) == 6 and all(
    {"image_score", "manipulated_fraction", "seconds"} <= set(l) for l in lines
  )
  # how it was predicted: the checkpoint's own strategy and views (no flags given)
  assert {(l["strategy"], l["views"]) for l in lines} == {
    (config.prediction_strategy, config.prediction_views)
  }
  for suffix in ("_mask.png", "_prob.png", "_overlay.png"):
    assert len(list((tmp_path / "out").glob(f"*{suffix}"))) == 6


def test_cli_reports_bad_files_and_goes_on(trained, tmp_path):
  _, workdir = trained
  folder = tmp_path / "mixed"
  folder.mkdir()
  (folder / "empty.jpg").write_bytes(b"")
  (folder / "notes.jpg").write_text("this is text, not a JPEG")
  buffer = io.BytesIO()
  Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(buffer, "JPEG")
  (folder / "truncated.jpg").write_bytes(buffer.getvalue()[:100])
  Image.fromarray(np.full((40, 50), 40000, np.uint16)).save(folder / "deep.tif")
  Image.fromarray(np.zeros((40, 50), np.uint8)).save(folder / "gray.png")
  Image.fromarray(np.zeros((40, 50, 4), np.uint8)).save(folder / "alpha.png")
  Image.fromarray(np.random.default_rng(4).integers(0, 256, (3000, 4000, 3), np.uint8)).save(
    folder / "large.jpg", quality=80
  )
  run = run_predict_cli(workdir, tmp_path / "out", "--strategy=resize", folder)
  assert run.returncode == 1  # some files failed
  lines = {
    pathlib.Path(l["file"]).name: l
    for l in map(json.loads, open(tmp_path / "out" / "predictions.jsonl"))
  }
  assert {n for n, l in lines.items() if "error" in l} == {
    "empty.jpg",
    "notes.jpg",
    "truncated.jpg",
  }
  for name in ("empty.jpg", "notes.jpg", "truncated.jpg"):
    assert f"error: {folder / name}" in run.stderr
  for stem in ("deep", "gray", "alpha", "large"):
    assert (tmp_path / "out" / f"{stem}_mask.png").exists()
  assert Image.open(tmp_path / "out" / "large_mask.png").size == (4000, 3000)


def test_export_runs_without_the_model_code(trained, tmp_path):
  _, workdir = trained
  predictor = inference.Predictor.from_checkpoint(workdir, batch_size=2)
  predictor.export(tmp_path / "exported")
  function, metadata = inference.load_exported(tmp_path / "exported")
  images = np.random.default_rng(5).normal(size=(2, 64, 64, 3)).astype(np.float32)
  np.testing.assert_allclose(
    function(images), np.asarray(predictor._forward(predictor.variables, images)), atol=1e-5
  )
  assert metadata["input_shape"] == [2, 64, 64, 3]


def test_perturbations():
  rng = np.random.default_rng(6)
  image = rng.integers(0, 256, (40, 60, 3), np.uint8)
  assert robustness.perturb("resize", 0.25, image, rng).shape == (10, 15, 3)
  blurred = robustness.perturb("blur", 5, image, rng)
  assert blurred.shape == image.shape and blurred.std() < image.std()
  a = robustness.perturbation_fn("noise", 3)(7, image)
  b = robustness.perturbation_fn("noise", 3)(7, image)
  np.testing.assert_array_equal(a, b)  # seeded per image
  assert 1 < np.abs(a.astype(float) - image).mean() < 5
  assert robustness.perturb("jpeg", 50, image, rng).shape == image.shape
  assert [k for k, _ in robustness.GRIDS["paper"]].count("blur") == 2
  assert robustness.parse_grid("blur:3,noise:4.5") == [("blur", 3), ("noise", 4.5)]
  with pytest.raises(ValueError, match="kind:strength"):
    robustness.parse_grid("sharpen:2")


def test_robustness_cli_writes_json_and_plot(trained):
  _, workdir = trained
  run = run_module("ncl_jax.robustness", f"--workdir={workdir}")
  assert run.returncode == 0, run.stderr[-3000:]
  result = json.load(open(workdir / "robustness" / "ncl_synthetic-test-paper.json"))
  assert set(result["results"]) == {
    "none",
    "resize_0.78",
    "resize_0.25",
    "blur_3",
    "blur_5",
    "noise_3",
    "noise_5",
    "jpeg_50",
    "jpeg_100",
  }
  assert all(r["num_images"] == 6 for r in result["results"].values())
  for label in ("resize_0.25", "blur_5", "noise_5", "jpeg_50"):  # each one reaches the model
    assert (
      result["results"][label]["pixel_auc_pooled"] != result["results"]["none"]["pixel_auc_pooled"]
    ), label
  assert (workdir / "robustness" / "ncl_synthetic-test-paper.png").stat().st_size > 1000


def test_training_writes_validation_pictures(trained, tiny_data_dir):
  config, workdir = trained
  events = b"".join(p.read_bytes() for p in (workdir / "tensorboard").iterdir())
  assert b"validation_examples/0" in events
  predict, mesh, variables = served(config, workdir)
  source = data.get_builder(config.dataset).as_data_source("validation")
  pictures = evaluate(
    predict, mesh, variables, source, config, num_pictures=config.num_summary_images
  ).pictures
  assert len(pictures) == 4 and pictures[0].shape == (64, 5 * 64, 3)


def test_figure_has_a_row_per_example():
  import matplotlib

  matplotlib.use("Agg")
  image = np.zeros((32, 32, 3), np.uint8)
  mask = np.zeros((32, 32), np.uint8)
  mask[4:20, 4:12] = 1
  fig = visualize.figure([image, image], [mask, mask], [mask * 0.9, mask * 0.2], patch_size=16)
  assert len(fig.axes) == 10
  overlaid = visualize.overlay(image, mask)
  assert overlaid[10, 6].tolist() != [0, 0, 0] and overlaid[30, 30].tolist() == [0, 0, 0]


def test_cli_gives_every_input_its_own_outputs(trained, tmp_path):
  """x.jpg and x.png both get their pictures, and each JSONL line names its own."""
  _, workdir = trained
  folder = tmp_path / "photos"
  folder.mkdir()
  rng = np.random.default_rng(9)
  for name in ("x.jpg", "x.png", "y.png"):
    Image.fromarray(rng.integers(0, 256, (40, 50, 3), np.uint8)).save(folder / name)
  assert predict_cli.collect([folder]) == [
    (folder / "x.jpg", "x.jpg"),
    (folder / "x.png", "x.png"),
    (folder / "y.png", "y"),
  ]
  predictor = inference.Predictor.from_checkpoint(workdir)
  assert predict_cli.run(predictor, [folder], tmp_path / "out", log=lambda *a, **k: None) == 0
  lines = [json.loads(line) for line in open(tmp_path / "out" / "predictions.jsonl")]
  masks = [line["outputs"]["mask"] for line in lines]
  assert masks == ["x.jpg_mask.png", "x.png_mask.png", "y_mask.png"]
  for line in lines:
    for file in line["outputs"].values():
      assert (tmp_path / "out" / file).is_file()
  # _prob16.png holds the probabilities themselves, to 1/65535
  probabilities = predictor.predict(folder / "y.png").probabilities
  stored = np.asarray(Image.open(tmp_path / "out" / "y_prob16.png")).astype(np.float64) / 65535
  np.testing.assert_allclose(stored, probabilities, atol=0.6 / 65535)


def test_a_model_predicts_with_its_configs_strategy_unless_told():
  from configs import recipe_ab

  native = recipe_ab.get_config("native_resolution")
  assert inference.Predictor(native, None).strategy == "sliding"
  assert inference.Predictor(native, None, strategy="resize").strategy == "resize"
  assert inference.Predictor(recipe_ab.get_config("baseline"), None).strategy == "resize"

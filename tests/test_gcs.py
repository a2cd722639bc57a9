"""Workdirs, datasets and predictions on GCS, against a local GCS emulator
(fake-gcs-server on 127.0.0.1, started once for the session by conftest.gcs_bucket):
the README's Cloud TPU command at smoke-run size, a stopped and resumed run equal
to an uninterrupted one, a corrupt checkpoint quarantined, metrics and TensorBoard
events written as new objects, predict reading and writing gs://."""

import io
import json

import jax
import numpy as np
import pytest
from etils import epath
from PIL import Image

from ncl_jax import inference, paths, predict
from ncl_jax.serving.restore import read_config
from ncl_jax.training import checkpointing, metric_writers, train
from tests.conftest import TINY_DATASET_OPTIONS, run_module, tiny_config
from tests.test_train import crash_on_the_third_step, final_state

pytestmark = pytest.mark.slow


def test_the_readme_tpu_command_runs_with_a_gcs_workdir_and_data_dir(gcs_bucket, tmp_path):
  """`python -m ncl_jax.main ... --workdir=gs://... --config.dataset.data_dir=gs://...`:
  the dataset is built locally and uploaded, training and evaluation write to GCS."""
  workdir, data_dir = f"{gcs_bucket}/readme/run", f"{gcs_bucket}/readme/tfds"
  options = [f"--config.dataset.options.{k}={v}" for k, v in TINY_DATASET_OPTIONS.items()]
  run = run_module(
    "ncl_jax.main",
    "--config=configs/synthetic.py:runlocal",
    f"--workdir={workdir}",
    f"--config.dataset.data_dir={data_dir}",
    *options,
  )
  assert run.returncode == 0, run.stderr[-3000:]
  assert "Uploading" in run.stdout
  version_dirs = list(epath.Path(data_dir).glob("ncl_synthetic/*/*"))
  assert len(version_dirs) == 1 and (version_dirs[0] / "dataset_info.json").exists()
  assert any(version_dirs[0].glob("*.array_record*"))
  result = json.loads((epath.Path(workdir) / "eval" / "ncl_synthetic-test.json").read_text())
  assert result["num_images"] == 6
  assert read_config(workdir).image_size == 64


def test_a_run_on_gcs_resumes_exactly_and_quarantines_a_corrupt_checkpoint(
  gcs_bucket, tmp_path, tiny_data_dir, monkeypatch
):
  config = tiny_config(f"{gcs_bucket}/resume/tfds", eval_every_steps=100)
  straight = tmp_path / "straight"
  train.train_and_evaluate(tiny_config(tiny_data_dir, eval_every_steps=100), str(straight))

  workdir = f"{gcs_bucket}/resume/run"
  crash_on_the_third_step(monkeypatch)
  with pytest.raises(RuntimeError, match="simulated crash"):
    train.train_and_evaluate(config, workdir)
  monkeypatch.undo()
  assert checkpointing.Checkpointer(workdir, read_only=True).latest_step() == 2
  # written at the checkpoint's commit, as a new object: step 2's log survived the crash
  assert [r["step"] for r in metric_writers.read_records(workdir)] == [2]
  train.train_and_evaluate(config, workdir)

  records = metric_writers.read_records(workdir)
  assert [r["step"] for r in records if r["split"] == "train"] == [2, 4]
  a, b = final_state(config, str(straight)), final_state(config, workdir)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
  events = list((epath.Path(workdir) / "tensorboard").glob("events.out.tfevents.*"))
  assert len(events) >= 2 and all(e.read_bytes() for e in events)  # one per commit

  for file in paths.files_under(epath.Path(workdir) / "checkpoints" / "4" / "state"):
    file.write_bytes(b"garbage")
  train.train_and_evaluate(config, workdir)
  corrupt = list((epath.Path(workdir) / "checkpoints_corrupt").iterdir())
  assert len(corrupt) == 1 and corrupt[0].name.startswith("4-")
  steps = [r["step"] for r in metric_writers.read_records(workdir) if r["split"] == "train"]
  assert steps == [2, 4, 4]  # 3-4 trained again from checkpoint 2

  # predict: a checkpoint, images and outputs, all on GCS
  images = epath.Path(gcs_bucket) / "resume" / "photos"
  images.mkdir(parents=True, exist_ok=True)
  buffer = io.BytesIO()
  Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 30, 3), np.uint8)).save(
    buffer, "PNG"
  )
  (images / "a.png").write_bytes(buffer.getvalue())
  predictor = inference.Predictor.from_checkpoint(workdir)
  output = f"{gcs_bucket}/resume/predictions"
  assert predict.run(predictor, [str(images)], output, log=lambda *a, **k: None) == 0
  line = json.loads((epath.Path(output) / "predictions.jsonl").read_text().splitlines()[0])
  mask = Image.open(io.BytesIO((epath.Path(output) / line["outputs"]["mask"]).read_bytes()))
  assert mask.size == (30, 40)

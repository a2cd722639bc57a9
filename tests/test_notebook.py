"""The quick-start notebook runs top to bottom (with smaller parameters)."""

import os

import nbformat
import pytest
from nbclient import NotebookClient

from ncl_jax.serving import pretrained
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow


def test_quickstart_notebook_runs(tmp_path):
  notebook = nbformat.read(os.path.join(REPO_ROOT, "notebooks", "quickstart.ipynb"), as_version=4)
  parameters = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
  assert len(parameters) == 1
  parameters[0].source = (
    f"NUM_TRAIN_STEPS = 4\nNUM_TRAIN_IMAGES = 16\nIMAGE_SIZE = 64\n"
    'CONFIG_OVERRIDES = {"model.depth": 10, "model.width": 0.125, "batch_size": 4}\n'
    f"WORKDIR = {str(tmp_path / 'run')!r}\nDATA_DIR = {str(tmp_path / 'tfds')!r}\n"
    "REPO_URL = ''\n"
  )
  client = NotebookClient(
    notebook,
    timeout=600,
    kernel_name="python3",
    resources={"metadata": {"path": os.path.join(REPO_ROOT, "notebooks")}},
  )
  client.execute()
  outputs = "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))
  assert "image score" in outputs and "pixel_f1" in outputs
  newest = pretrained.shipped()[-1]
  assert f"{newest}: image score" in outputs and "edited: " in outputs  # the shipped model
  assert os.path.exists(tmp_path / "run" / "eval" / "ncl_synthetic-test.json")

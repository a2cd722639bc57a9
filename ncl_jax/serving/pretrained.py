"""The models shipped inside the package, loaded by name; nothing is downloaded.

  predictor = Predictor.from_pretrained("photos-v1")   # None: the newest shipped

Each model is a folder `ncl_jax/serving/models/<name>/`:
- `variables.msgpack`: its parameters and BatchNorm statistics, written by
  `flax.serialization.msgpack_serialize` (one file, read without Orbax or the
  model's optimizer; its SHA-256 is checked on every load);
- `config.json`: the config it trained with (the network to build);
- `model.json`: name, version, SHA-256 of the variables, the decision threshold
  on the image score (set on validation at a false-alarm rate), the training step
  and commit, and its validation figures;
- `export/`: `Predictor.export`'s StableHLO function and variables, for JAX users
  without this package's model code.
`ncl_jax.release` writes such a folder from a training workdir.
"""

import hashlib
import json
import pathlib
from typing import Any, NamedTuple

import jax
import ml_collections
from flax import serialization

from ncl_jax.config_schema import with_legacy_defaults

MODELS_DIR = pathlib.Path(__file__).with_name("models")
VARIABLES_FILE = "variables.msgpack"
CONFIG_FILE = "config.json"
INFO_FILE = "model.json"
# Names once shipped and since removed: name -> the last ncl_jax release that had it.
RETIRED: dict[str, str] = {}


class Pretrained(NamedTuple):
  """A shipped model: what model.json says of it, its config and its variables."""

  info: dict  # model.json
  config: Any  # the config it trained with
  variables: dict  # {"params", "batch_stats"}


def file_sha256(path) -> str:
  """The SHA-256 of a file, as hex."""
  digest = hashlib.sha256()
  with open(path, "rb") as file:
    for block in iter(lambda: file.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def read_info(name: str, models_dir=None) -> dict:
  """model.json of a shipped model."""
  return json.loads((pathlib.Path(models_dir or MODELS_DIR) / name / INFO_FILE).read_text())


def shipped(models_dir=None) -> list[str]:
  """The names of the shipped models, oldest version first."""
  root = pathlib.Path(models_dir or MODELS_DIR)
  names = [p.parent.name for p in root.glob(f"*/{INFO_FILE}")]
  return sorted(names, key=lambda name: (read_info(name, root)["version"], name))


def resolve_name(name: str | None, models_dir=None) -> str:
  """`name`, or the newest shipped model's; LookupError naming what there is."""
  names = shipped(models_dir)
  if name in (None, ""):
    if not names:
      raise LookupError("this installation ships no model; give a checkpoint instead")
    return names[-1]
  if name in names:
    return name
  listing = ", ".join(names) or "none"
  if name in RETIRED:
    raise LookupError(
      f"model {name!r} was last shipped with ncl_jax {RETIRED[name]}; this version ships {listing}"
    )
  raise LookupError(f"no shipped model named {name!r}; shipped: {listing}")


def load(name: str | None = None, models_dir=None) -> Pretrained:
  """A shipped model (the newest if `name` is None), its SHA-256 checked."""
  name = resolve_name(name, models_dir)
  folder = pathlib.Path(models_dir or MODELS_DIR) / name
  info = read_info(name, models_dir)
  variables_path = folder / VARIABLES_FILE
  digest = file_sha256(variables_path)
  if digest != info["sha256"]:
    raise ValueError(
      f"{variables_path}: SHA-256 {digest} differs from the {info['sha256']} recorded in "
      f"{folder / INFO_FILE}; the file is damaged: reinstall ncl_jax"
    )
  config = ml_collections.ConfigDict(
    with_legacy_defaults(json.loads((folder / CONFIG_FILE).read_text()))
  )
  variables = serialization.msgpack_restore(variables_path.read_bytes())
  return Pretrained(info, config, jax.device_put(variables))

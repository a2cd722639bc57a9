"""TFDS builders of the NCL benchmarks, installed as `ncl_jax.data`.

`get_builder(dataset_config)` returns the builder a config names (`name` as in
this folder, with the builder config after a slash: "casia/v1");
`ensure_built(dataset_config)` builds it on first use and reports what it wrote
and skipped. `photo_forgeries` is no TFDS build: its forgeries are synthesized
from a photo collection while training (ncl_jax.synthesis), and its "builder"
only serves them.
"""

import importlib
import os
import tempfile

import jax
import tensorflow_datasets as tfds
from jax.experimental import multihost_utils

# synthesis as a module, not its names: it imports ncl_jax.data.splits, so either
# package may be imported first.
from ncl_jax import paths, synthesis

from . import manual

# name -> builder configs ("" for a builder with one config)
DATASETS = {
  "ncl_synthetic": ("",),
  "casia": ("v1", "v2"),
  "columbia": ("",),
  "coverage": ("",),
  "nist16": ("",),
  "defacto": ("",),
  "imd2020": ("",),
  "iml_folder": ("",),
  "photo_forgeries": ("",),
}
SYNTHESIZED = ("photo_forgeries",)
DATASET_NAMES = tuple(
  f"{name}/{config}" if config else name for name, configs in DATASETS.items() for config in configs
)
MANUAL_OPTIONS = ("mask_size_policy", "seed", "train_subset", "folder_name", "validation_fraction")


class DatasetNotFoundError(FileNotFoundError):
  """A benchmark that is neither built nor found in manual_dir."""


def _split_name(full_name):
  name, _, config = full_name.partition("/")
  if name not in DATASETS or (config and config not in DATASETS[name]):
    raise ValueError(
      f"unknown dataset.name {full_name!r}; known datasets: {', '.join(DATASET_NAMES)}"
    )
  if not config and DATASETS[name] != ("",):
    raise ValueError(
      f"dataset.name {full_name!r} needs a config: "
      f"{', '.join(f'{name}/{c}' for c in DATASETS[name])}"
    )
  return name, config


def is_manual(full_name) -> bool:
  """Whether the dataset is built from files a user downloads (not generated)."""
  return _split_name(full_name)[0] not in ("ncl_synthetic",) + SYNTHESIZED


def data_dir_of(dataset_config) -> str:
  """Where the TFDS builds live: a local folder or a gs:// URI."""
  return os.fspath(paths.resolve(dataset_config.get("data_dir") or "~/tensorflow_datasets"))


def manual_dir_of(dataset_config):
  """The downloaded files (a folder, or iml_folder's JSON list), or None."""
  return paths.resolve(dataset_config["manual_dir"]) if dataset_config.get("manual_dir") else None


def _manual_config(module, base_name, options, manual_dir):
  values = {k: options[k] for k in MANUAL_OPTIONS if k in options}
  defaults = manual.ManualConfig(name="x")
  suffix = "_".join(
    f"{k}{values[k]}"
    for k in sorted(values)
    if values[k] != getattr(defaults, k) and k != "folder_name"
  )
  if base_name == "iml_folder_default":  # one builder config per folder
    folder = values.get("folder_name") or (paths.resolve(manual_dir).name if manual_dir else "data")
    base_name = "".join(c if c.isalnum() else "_" for c in folder) or "data"
  name = f"{base_name}_{suffix}" if suffix else base_name
  registered = {config.name: config for config in module.Builder.BUILDER_CONFIGS}
  return registered.get(name) or manual.ManualConfig(name=name, **values)


def get_builder(dataset_config):
  """The TFDS builder for `dataset_config` (a ConfigDict or mapping with `name`,
  `data_dir`, `manual_dir` and builder options under `options`)."""
  name, config_name = _split_name(dataset_config["name"])
  if name in SYNTHESIZED:
    validation = dataset_config.get("validation_synthesis")
    return synthesis.PhotoForgeries(
      dataset_config,
      synthesis.SynthesisConfig.from_config(dataset_config.get("synthesis")),
      synthesis.SynthesisConfig.from_config(validation) if validation else None,
    )
  module = importlib.import_module(f"{__name__}.{name}")
  options = dict(dataset_config.get("options") or {})
  if name == "ncl_synthetic":
    config = module.config_from_options(options)
  else:
    base = "iml_folder_default" if name == "iml_folder" else config_name or "default"
    config = _manual_config(module, base, options, dataset_config.get("manual_dir"))
  return module.Builder(
    config=config, data_dir=data_dir_of(dataset_config), file_format="array_record"
  )


def built_splits(builder, expression: str) -> str:
  """`expression` ("train+validation+test") without its "validation" part where the
  build has no validation split: a benchmark whose training images are one group
  gets none carved. Any other split it lacks stays, for TFDS to name."""
  parts = expression.split("+")
  splits = getattr(getattr(builder, "info", None), "splits", None)
  if splits is None or "validation" not in parts or "validation" in splits:
    return expression
  return "+".join(part for part in parts if part != "validation")


def check_available(dataset_config):
  """The builder, if its dataset is built or can be (its manual_dir exists);
  DatasetNotFoundError saying where it looked and where the data comes from otherwise."""
  builder = get_builder(dataset_config)
  if isinstance(builder, synthesis.PhotoForgeries) or builder.is_prepared():
    return builder
  manual_dir = manual_dir_of(dataset_config)
  if is_manual(dataset_config["name"]) and not (manual_dir and manual_dir.exists()):
    raise DatasetNotFoundError(
      f"{dataset_config['name']} is not built in {builder.data_path} and its downloaded files "
      f"were not found: dataset.manual_dir={manual_dir or '(not set)'}.\n"
      f"Where to get it and the folder layout expected:{builder.MANUAL_DOWNLOAD_INSTRUCTIONS}"
      "Then run with --config.dataset.manual_dir=/path/to/the/folder."
    )
  return builder


def ensure_built(dataset_config, log=print):
  """Build the dataset into data_dir if it is not there yet; return the builder.

  A data_dir on GCS (gs://...) is built in a local staging folder and the finished
  version folder uploaded, its dataset_info.json last: TFDS counts a build as
  there only once that file exists, so no reader ever sees half a dataset.
  Raises DatasetNotFoundError, saying which folder was looked in and where the
  data comes from, when a benchmark is neither built nor in manual_dir.
  """
  builder = check_available(dataset_config)
  if isinstance(builder, synthesis.PhotoForgeries):
    log(builder.describe())
    return builder
  if builder.is_prepared():
    return builder
  if paths.is_remote(builder.data_dir):
    with tempfile.TemporaryDirectory(prefix="ncl_jax_build_") as staging:
      staged = ensure_built({**dict(dataset_config), "data_dir": staging}, log)
      log(f"Uploading {staged.data_path} to {builder.data_path} ...")
      upload_build(paths.resolve(staged.data_path), paths.resolve(builder.data_path))
    return get_builder(dataset_config)
  manual_dir = manual_dir_of(dataset_config)
  log(f"Building {builder.name}/{builder.builder_config.name} into {builder.data_dir} ...")
  if manual_dir:
    # A builder may take a file (iml_folder's JSON list); TFDS wants a folder.
    builder.manual_path = manual_dir
    manual_dir = manual_dir if manual_dir.is_dir() else manual_dir.parent
  builder.download_and_prepare(
    download_config=tfds.download.DownloadConfig(
      manual_dir=os.fspath(manual_dir) if manual_dir else None
    )
  )
  report = getattr(builder, "report", None)
  if report is not None:
    path = paths.resolve(builder.data_path) / "build_report.json"
    report.write(path)
    log(report.summary())
    log(f"Build report: {path}")
  return builder


# TFDS takes a version folder for a finished build once both of these exist.
_MARKERS = ("features.json", "dataset_info.json")


def upload_build(local_version_dir, remote_version_dir):
  """Copies a finished build's files, the two files that mark it finished last."""
  files = sorted(p for p in local_version_dir.iterdir() if p.is_file())
  files.sort(key=lambda p: _MARKERS.index(p.name) if p.name in _MARKERS else -1)
  remote_version_dir.mkdir(parents=True, exist_ok=True)
  for file in files:
    (remote_version_dir / file.name).write_bytes(file.read_bytes())


def ensure_built_everywhere(dataset_config, log=print):
  """ensure_built, by process 0 alone when there are several (the others check
  that the data is there, then wait for the build)."""
  if jax.process_count() == 1:
    return ensure_built(dataset_config, log)
  check_available(dataset_config)
  if jax.process_index() == 0:
    ensure_built(dataset_config, log)
  multihost_utils.sync_global_devices(f"built {dataset_config['name']}")
  return ensure_built(dataset_config, log)

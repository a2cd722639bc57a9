"""TFDS builders of the NCL benchmarks, installed as `ncl_jax.data`.

`get_builder(dataset_config)` returns the builder a config names (`name` as in
this folder, with the builder config after a slash: "casia/v1");
`ensure_built(dataset_config)` builds it on first use and reports what it wrote
and skipped.
"""
import importlib
import os

import jax
import tensorflow_datasets as tfds
from jax.experimental import multihost_utils

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
}
DATASET_NAMES = tuple(f"{name}/{config}" if config else name
                      for name, configs in DATASETS.items() for config in configs)
MANUAL_OPTIONS = ("mask_size_policy", "seed", "train_subset", "folder_name")


class DatasetNotFoundError(FileNotFoundError):
  """A benchmark that is neither built nor found in manual_dir."""


def _split_name(full_name):
  name, _, config = full_name.partition("/")
  if name not in DATASETS or (config and config not in DATASETS[name]):
    raise ValueError(f"unknown dataset.name {full_name!r}; known datasets: "
                     f"{', '.join(DATASET_NAMES)}")
  if not config and DATASETS[name] != ("",):
    raise ValueError(f"dataset.name {full_name!r} needs a config: "
                     f"{', '.join(f'{name}/{c}' for c in DATASETS[name])}")
  return name, config


def is_manual(full_name) -> bool:
  return _split_name(full_name)[0] != "ncl_synthetic"


def data_dir_of(dataset_config) -> str:
  return os.path.expanduser(dataset_config.get("data_dir") or "~/tensorflow_datasets")


def _manual_config(module, base_name, options, manual_dir):
  values = {k: options[k] for k in MANUAL_OPTIONS if k in options}
  defaults = manual.ManualConfig(name="x")
  suffix = "_".join(f"{k}{values[k]}" for k in sorted(values)
                    if values[k] != getattr(defaults, k) and k != "folder_name")
  if base_name == "iml_folder_default":  # one builder config per folder
    folder = values.get("folder_name") or os.path.basename(os.path.normpath(manual_dir or "data"))
    base_name = "".join(c if c.isalnum() else "_" for c in folder) or "data"
  name = f"{base_name}_{suffix}" if suffix else base_name
  registered = {config.name: config for config in module.Builder.BUILDER_CONFIGS}
  return registered.get(name) or manual.ManualConfig(name=name, **values)


def get_builder(dataset_config):
  """The TFDS builder for `dataset_config` (a ConfigDict or mapping with `name`,
  `data_dir`, `manual_dir` and builder options under `options`)."""
  name, config_name = _split_name(dataset_config["name"])
  module = importlib.import_module(f"{__name__}.{name}")
  options = dict(dataset_config.get("options") or {})
  if name == "ncl_synthetic":
    config = module.config_from_options(options)
  else:
    base = "iml_folder_default" if name == "iml_folder" else config_name or "default"
    config = _manual_config(module, base, options, dataset_config.get("manual_dir"))
  return module.Builder(config=config, data_dir=data_dir_of(dataset_config),
                        file_format="array_record")


def check_available(dataset_config):
  """The builder, if its dataset is built or can be (its manual_dir exists);
  DatasetNotFoundError saying where it looked and where the data comes from otherwise."""
  builder = get_builder(dataset_config)
  if builder.is_prepared():
    return builder
  manual_dir = os.path.expanduser(dataset_config.get("manual_dir") or "")
  if is_manual(dataset_config["name"]) and not (manual_dir and os.path.exists(manual_dir)):
    raise DatasetNotFoundError(
        f"{dataset_config['name']} is not built in {builder.data_path} and its downloaded files "
        f"were not found: dataset.manual_dir={manual_dir or '(not set)'}.\n"
        f"Where to get it and the folder layout expected:{builder.MANUAL_DOWNLOAD_INSTRUCTIONS}"
        "Then run with --config.dataset.manual_dir=/path/to/the/folder.")
  return builder


def ensure_built(dataset_config, log=print):
  """Build the dataset into data_dir if it is not there yet; return the builder.

  Raises DatasetNotFoundError, saying which folder was looked in and where the
  data comes from, when a benchmark is neither built nor in manual_dir.
  """
  builder = check_available(dataset_config)
  if builder.is_prepared():
    return builder
  manual_dir = os.path.expanduser(dataset_config.get("manual_dir") or "")
  log(f"Building {builder.name}/{builder.builder_config.name} into {builder.data_dir} ...")
  if manual_dir:
    # A builder may take a file (iml_folder's JSON list); TFDS wants a folder.
    builder.manual_path = manual_dir
    manual_dir = manual_dir if os.path.isdir(manual_dir) else os.path.dirname(manual_dir)
  builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
      manual_dir=manual_dir or None))
  report = getattr(builder, "report", None)
  if report is not None:
    path = os.path.join(builder.data_path, "build_report.json")
    report.write(path)
    log(report.summary())
    log(f"Build report: {path}")
  return builder


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

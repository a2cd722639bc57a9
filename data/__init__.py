"""TFDS builders of the NCL benchmarks, installed as `ncl_jax.data`.

`get_builder(dataset_config)` returns the builder a config names;
`ensure_built(dataset_config)` builds it on first use.
"""
import os

DATASET_NAMES = ("ncl_synthetic",)


def _builder_class(name):
  if name == "ncl_synthetic":
    from . import ncl_synthetic  # pylint: disable=g-import-not-at-top
    return ncl_synthetic.Builder, ncl_synthetic.config_from_options
  raise ValueError(f"unknown dataset.name {name!r}; known datasets: {', '.join(DATASET_NAMES)}")


def data_dir_of(dataset_config) -> str:
  return os.path.expanduser(dataset_config.get("data_dir") or "~/tensorflow_datasets")


def get_builder(dataset_config):
  """The TFDS builder for `dataset_config` (a ConfigDict or mapping with `name`,
  `data_dir` and builder-specific options)."""
  builder_cls, make_config = _builder_class(dataset_config["name"])
  options = dict(dataset_config.get("options") or {})
  return builder_cls(config=make_config(options), data_dir=data_dir_of(dataset_config),
                     file_format="array_record")


def ensure_built(dataset_config, log=print):
  """Build the dataset if its files are not in data_dir yet; return the builder."""
  builder = get_builder(dataset_config)
  if not builder.is_prepared():
    log(f"Building {builder.name}/{builder.builder_config.name} into {builder.data_dir} ...")
    builder.download_and_prepare(
        download_config=_download_config(dataset_config))
  return builder


def _download_config(dataset_config):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  manual_dir = dataset_config.get("manual_dir")
  return tfds.download.DownloadConfig(manual_dir=os.path.expanduser(manual_dir) if manual_dir else None)

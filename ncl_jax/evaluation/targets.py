"""What is evaluated: a dataset, a split and a protocol; the labels of evaluations
and the JSON files their results are written to."""

import dataclasses

import jax

from ncl_jax import paths
from ncl_jax.provenance import provenance
from ncl_jax.training import metric_writers


def eval_label(dataset_name: str, split: str) -> str:
  """ "<dataset>-<split>", the name of an evaluation (TFDS names may hold a "/")."""
  return f"{dataset_name}-{split}".replace("/", "_")


def eval_json_path(workdir, label: str):
  """`<workdir>/eval/<label>.json`, where an evaluation's result goes."""
  return paths.resolve(workdir) / "eval" / f"{label}.json"


@dataclasses.dataclass(frozen=True)
class EvalTarget:
  """One evaluation: a dataset (a config mapping: name, data_dir, manual_dir,
  options), a split of it, and the protocol it is scored with ("ncl",
  "imdlbenco" or "imdlbenco_pad", see metrics.py and input/input_pipeline.py)."""

  dataset: dict
  split: str
  protocol: str = "ncl"

  @property
  def label(self) -> str:
    """ "<dataset>-<split>"; an IMDL-BenCo folder adds its folder_name (several can
    be evaluated side by side)."""
    name = self.dataset["name"]
    folder = dict(self.dataset.get("options") or {}).get("folder_name")
    if name == "iml_folder" and folder:
      name = f"{name}_{folder}"
    return eval_label(name, self.split)


def _dataset(dataset_config, defaults) -> dict:
  dataset = dict(dataset_config)
  dataset["data_dir"] = dataset.get("data_dir") or defaults.data_dir
  return dataset


def test_targets(config) -> list[EvalTarget]:
  """The final evaluations: the training dataset's `test_split` (if set) and
  every entry of `config.test_datasets` (split default "test"), except an
  `iml_folder` entry left without a `manual_dir` (a slot for the user's own data)."""
  targets = []
  if config.dataset.test_split:
    targets.append(
      EvalTarget(dict(config.dataset), config.dataset.test_split, config.eval_protocol)
    )
  for extra in dict(config.get("test_datasets") or {}).values():
    dataset = _dataset(extra, config.dataset)
    if dataset["name"] == "iml_folder" and not dataset.get("manual_dir"):
      continue
    targets.append(
      EvalTarget(
        dataset, dataset.get("split") or "test", dataset.get("protocol") or config.eval_protocol
      )
    )
  return targets


def split_target(config, split: str) -> EvalTarget:
  """A split of the training dataset (validation, or any split asked for)."""
  return EvalTarget(dict(config.dataset), split, config.eval_protocol)


def write_eval_json(workdir: str, label: str, result: dict) -> str:
  """`result` with the command, machine and commit that made it, as
  `<workdir>/eval/<label>.json` (process 0); returns the path."""
  path = eval_json_path(workdir, label)
  if jax.process_index() == 0:
    record = {**metric_writers.to_jsonable(result), "provenance": provenance()}
    paths.write_json(path, record, indent=2)
  return path

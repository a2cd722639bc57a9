"""The one abstraction for every path a user gives: etils.epath, for local paths and
cloud URIs (gs://bucket/...) alike. Nothing in the project calls os.path or open()
on such a path directly.

Local disk and GCS differ in what is atomic: a local rename is, GCS has no rename
and no append. Orbax's checkpoints are safe on both (a checkpoint counts once its
commit marker is written); on GCS, metrics and TensorBoard events are written as
new objects when a checkpoint commits (metric_writers.py), and datasets are
built locally and uploaded, their dataset_info.json last (ncl_jax.data).
"""

import json
import os

from etils import epath


def is_remote(path) -> bool:
  """Whether a path is a URI of a remote filesystem (gs://, s3://, ...)."""
  return "://" in os.fspath(path)


def resolve(path) -> epath.Path:
  """A user's path: a URI as it is; a local path with ~ expanded, made absolute."""
  text = os.fspath(path)
  if is_remote(text):
    return epath.Path(text)
  return epath.Path(os.path.abspath(os.path.expanduser(text)))


def write_json(path, value, **kwargs) -> epath.Path:
  """Writes `value` as JSON (creating the parent folder); returns the path."""
  path, text = resolve(path), json.dumps(value, **kwargs)
  path.parent.mkdir(parents=True, exist_ok=True)
  if is_remote(path):  # an object upload is atomic already
    path.write_text(text)
    return path
  temporary = path.parent / f".{path.name}.tmp"
  temporary.write_text(text)
  os.replace(temporary, path)  # readers see the old file or the new one, never half
  return path


def read_json(path):
  """The JSON at a local or gs:// path."""
  return json.loads(resolve(path).read_text())


def move_tree(source, destination) -> epath.Path:
  """Moves a folder: a rename on local disk; on a remote filesystem (no rename of
  folders) each file is copied, then the source removed."""
  source, destination = resolve(source), resolve(destination)
  if not is_remote(source):
    destination.parent.mkdir(parents=True, exist_ok=True)
    return source.rename(destination)
  for file in files_under(source):
    (destination / file.relative_to(source)).write_bytes(file.read_bytes())
  source.rmtree()
  return destination


def files_under(folder) -> list:
  """Every file below `folder`, recursively, sorted (epath's rglob refuses "**")."""
  folder = resolve(folder)
  # epath's walk on GCS yields its folders without the "gs://": re-anchored on `folder`.
  without_scheme = str(folder).split("://", 1)[-1]
  files = []
  for root, _, names in folder.walk():
    relative = os.path.relpath(str(root).split("://", 1)[-1], without_scheme)
    files.extend((folder if relative == "." else folder / relative) / name for name in names)
  return sorted(files)

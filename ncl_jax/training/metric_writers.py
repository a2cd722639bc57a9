"""Metrics to stdout, the workdir (JSON lines) and TensorBoard event files.

On local disk every record is appended to `<workdir>/metrics.jsonl` and to the
TensorBoard event file at once. On a remote filesystem such as GCS, which cannot
append to an object, records are kept in memory and written when a checkpoint
commits (`commit(step)`): each time as new objects that never overwrite one
another, `<workdir>/metrics/metrics-<step>.jsonl` and a TensorBoard event file in
`<workdir>/tensorboard/`. A crash then loses only what was logged after the last
committed checkpoint, which the resumed run logs again. `read_records` reads
either layout.
"""

import io
import json
import math
import tempfile
import time

import jax
from PIL import Image

# TensorBoard's own event file writer and protos, as torch.utils.tensorboard uses
# them: they need neither TensorFlow nor PyTorch (tensorboardX imports PyTorch
# whenever it is installed, as it is on Colab).
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from ncl_jax import paths


def to_jsonable(value):
  """NumPy/JAX scalars to Python; NaN and inf to None (JSON has neither)."""
  if isinstance(value, dict):
    return {k: to_jsonable(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [to_jsonable(v) for v in value]
  if hasattr(value, "item"):
    value = value.item()
  if isinstance(value, float) and not math.isfinite(value):
    return None
  return value


def read_records(workdir) -> list:
  """Every metrics record of a workdir, in the order written (either layout)."""
  workdir = paths.resolve(workdir)
  files = [workdir / "metrics.jsonl"] + sorted((workdir / "metrics").glob("metrics-*.jsonl"))
  return [
    json.loads(line)
    for file in files
    if file.exists()
    for line in file.read_text().splitlines()
    if line
  ]


def _png(image) -> summary_pb2.Summary.Image:
  """uint8 [height, width, 3] as a TensorBoard image."""
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, "PNG")
  height, width, channels = image.shape
  return summary_pb2.Summary.Image(
    height=height, width=width, colorspace=channels, encoded_image_string=buffer.getvalue()
  )


def _add_to_tensorboard(tensorboard, step, split, scalars=None, images=None):
  """Writes one event of `split`'s numeric `scalars` and uint8 [height, width, 3]
  `images` (tagged `split/index`) at `step` to an EventFileWriter."""
  values = [
    summary_pb2.Summary.Value(tag=f"{split}/{name}", simple_value=value)
    for name, value in (scalars or {}).items()
    if isinstance(value, (int, float)) and not isinstance(value, bool)
  ]
  values += [
    summary_pb2.Summary.Value(tag=f"{split}/{index}", image=_png(image))
    for index, image in enumerate(images or ())
  ]
  if values:
    summary = summary_pb2.Summary(value=values)
    tensorboard.add_event(event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary))


class MetricWriter:
  """Writes on process 0 only, so multi-host runs log once."""

  def __init__(self, workdir):
    self.enabled = jax.process_index() == 0
    self.workdir = paths.resolve(workdir)
    self.buffered = paths.is_remote(self.workdir)
    self._pending = []  # (step, kind, split, payload) not yet written (remote)
    self._jsonl = self._tensorboard = None
    if self.enabled and not self.buffered:
      self.workdir.mkdir(parents=True, exist_ok=True)
      self._jsonl = (self.workdir / "metrics.jsonl").open("a")
      self._tensorboard = EventFileWriter(str(self.workdir / "tensorboard"))

  def write(self, step: int, split: str, scalars: dict, echo=print):
    """Writes `scalars` of `split` at `step` (process 0), echoing a line."""
    if not self.enabled:
      return
    scalars = to_jsonable(scalars)
    if self.buffered:
      self._pending.append((int(step), "scalars", split, scalars))
    else:
      self._jsonl.write(json.dumps({"step": int(step), "split": split, **scalars}) + "\n")
      self._jsonl.flush()
      _add_to_tensorboard(self._tensorboard, step, split, scalars=scalars)
      self._tensorboard.flush()
    shown = ", ".join(
      f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
      for k, v in scalars.items()
      if not isinstance(v, (dict, list))
    )
    echo(f"[{split}] step {step}: {shown}")

  def write_images(self, step: int, tag: str, images):
    """uint8 [height, width, 3] pictures, one TensorBoard image each."""
    if not self.enabled:
      return
    if self.buffered:
      self._pending.append((int(step), "images", tag, list(images)))
    else:
      _add_to_tensorboard(self._tensorboard, step, tag, images=images)
      self._tensorboard.flush()

  def commit(self, step=None):
    """Writes what was logged up to `step` (everything: None) as new objects; a
    no-op on local disk, where everything is written at once."""
    if not (self.enabled and self.buffered):
      return
    due = [step is None or record[0] <= step for record in self._pending]
    ready = [record for record, is_due in zip(self._pending, due) if is_due]
    self._pending = [record for record, is_due in zip(self._pending, due) if not is_due]
    if not ready:
      return
    last = max(r[0] for r in ready)
    lines = [
      json.dumps({"step": s, "split": split, **payload})
      for s, kind, split, payload in ready
      if kind == "scalars"
    ]
    if lines:
      part = (
        self.workdir / "metrics" / f"metrics-{last:010d}-{len(self._written_parts()):04d}.jsonl"
      )
      part.parent.mkdir(parents=True, exist_ok=True)
      part.write_text("\n".join(lines) + "\n")
    with tempfile.TemporaryDirectory() as local:
      tensorboard = EventFileWriter(local, filename_suffix=f".{last:010d}")
      for s, kind, split, payload in ready:
        _add_to_tensorboard(tensorboard, s, split, **{kind: payload})
      tensorboard.close()
      target = self.workdir / "tensorboard"
      target.mkdir(parents=True, exist_ok=True)
      for event_file in paths.resolve(local).iterdir():
        (target / event_file.name).write_bytes(event_file.read_bytes())

  def _written_parts(self):
    return list((self.workdir / "metrics").glob("metrics-*.jsonl"))

  def close(self):
    """Flushes and closes the writers."""
    if not self.enabled:
      return
    if self.buffered:
      self.commit()
    else:
      self._jsonl.close()
      self._tensorboard.close()

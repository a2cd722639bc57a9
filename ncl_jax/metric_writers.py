"""Metrics to stdout, `<workdir>/metrics.jsonl` and TensorBoard (tensorboardX, no TF)."""
import json
import math
import os

import jax
from tensorboardX import SummaryWriter


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


class MetricWriter:
  """Writes on process 0 only, so multi-host runs log once."""

  def __init__(self, workdir: str):
    self.enabled = jax.process_index() == 0
    self._jsonl = self._tensorboard = None
    if self.enabled:
      os.makedirs(workdir, exist_ok=True)
      self._jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a", encoding="utf-8")
      self._tensorboard = SummaryWriter(os.path.join(workdir, "tensorboard"))

  def write(self, step: int, split: str, scalars: dict, echo=print):
    if not self.enabled:
      return
    scalars = to_jsonable(scalars)
    record = {"step": int(step), "split": split, **scalars}
    self._jsonl.write(json.dumps(record) + "\n")
    self._jsonl.flush()
    for name, value in scalars.items():
      if isinstance(value, (int, float)) and not isinstance(value, bool):
        self._tensorboard.add_scalar(f"{split}/{name}", value, int(step))
    self._tensorboard.flush()
    shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                      for k, v in scalars.items() if not isinstance(v, (dict, list)))
    echo(f"[{split}] step {step}: {shown}")

  def write_images(self, step: int, tag: str, images):
    """uint8 [height, width, 3] pictures, one TensorBoard image each."""
    if not self.enabled:
      return
    for index, image in enumerate(images):
      self._tensorboard.add_image(f"{tag}/{index}", image, int(step), dataformats="HWC")
    self._tensorboard.flush()

  def close(self):
    if self.enabled:
      self._jsonl.close()
      self._tensorboard.close()

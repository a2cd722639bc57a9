"""ncl_jax against PyTorch: one training step of the same DeepLabV3+ in both, as JSON.

  pip install -e ".[torch]"
  python benchmarks/compare_torch.py --config=configs/default.py [--torch_modes=eager,compile]
  taskset -c 0 python benchmarks/compare_torch.py ...   # both frameworks on one thread

Times, interleaved on the same thread count, one training step of the same network
with the same loss (mean BCE at every output: `ncl.weight=0`, `pc.mode=bce`) in
ncl_jax and in PyTorch, the forward passes, and the full NCL step beside them. The
PyTorch network: ResNet encoder (output stride 16 or 8 by
dilation, multi-grid in the last stage), ASPP with image pooling, the decoder with
its dropouts, an auxiliary head after ASPP and the classifier, trained with SGD and
the mean BCE at the final and auxiliary outputs (our `ncl.weight=0`,
`pc.mode=bce`). Channel widths follow the same width multiplier, so parameter
counts match ours (tested). The package never imports this file.
"""

import json
import statistics
import time

import jax
import numpy as np
import torch
from absl import app, flags
from ml_collections import config_flags
from torch import nn
from torch.nn import functional as F

from ncl_jax import ablate, benchmark, paths, provenance
from ncl_jax.config_schema import validate_config
from ncl_jax.models.resnet import RESNET_LAYOUTS, scaled_channels

FLAGS = flags.FLAGS


class _Block(nn.Module):
  def __init__(self, inplanes, planes, stride, dilation, bottleneck):
    super().__init__()
    expansion = 4 if bottleneck else 1
    if bottleneck:
      self.body = nn.Sequential(
        nn.Conv2d(inplanes, planes, 1, bias=False),
        nn.BatchNorm2d(planes),
        nn.ReLU(True),
        nn.Conv2d(planes, planes, 3, stride, dilation, dilation, bias=False),
        nn.BatchNorm2d(planes),
        nn.ReLU(True),
        nn.Conv2d(planes, planes * 4, 1, bias=False),
        nn.BatchNorm2d(planes * 4),
      )
    else:
      self.body = nn.Sequential(
        nn.Conv2d(inplanes, planes, 3, stride, dilation, dilation, bias=False),
        nn.BatchNorm2d(planes),
        nn.ReLU(True),
        nn.Conv2d(planes, planes, 3, 1, dilation, dilation, bias=False),
        nn.BatchNorm2d(planes),
      )
    self.project = None
    if stride != 1 or inplanes != planes * expansion:
      self.project = nn.Sequential(
        nn.Conv2d(inplanes, planes * expansion, 1, stride, bias=False),
        nn.BatchNorm2d(planes * expansion),
      )

  def forward(self, x):
    residual = x if self.project is None else self.project(x)
    return F.relu(self.body(x) + residual)


def _conv_bn_relu(inplanes, planes, kernel, dilation=1):
  return nn.Sequential(
    nn.Conv2d(inplanes, planes, kernel, 1, dilation * (kernel - 1) // 2, dilation, bias=False),
    nn.BatchNorm2d(planes),
    nn.ReLU(True),
  )


class DeepLabV3Plus(nn.Module):
  """Our NCLModel's segmentation network (no pivot branches), in PyTorch."""

  def __init__(self, model_config):
    super().__init__()
    width = model_config.width
    stage_sizes, bottleneck = RESNET_LAYOUTS[model_config.depth]
    expansion = 4 if bottleneck else 1
    base = scaled_channels(64, width)
    self.stem = nn.Sequential(
      nn.Conv2d(3, base, 7, 2, 3, bias=False),
      nn.BatchNorm2d(base),
      nn.ReLU(True),
      nn.MaxPool2d(3, 2, 1),
    )
    schedule = {16: ((1, 1), (2, 1), (2, 1), (1, 2)), 8: ((1, 1), (2, 1), (1, 2), (1, 4))}
    stages, inplanes = [], base
    for stage, (blocks, (stride, dilation)) in enumerate(
      zip(stage_sizes, schedule[model_config.output_stride])
    ):
      layers = []
      for block in range(blocks):
        grid = model_config.multi_grid
        factor = grid[min(block, len(grid) - 1)] if stage == 3 else 1
        layers.append(
          _Block(
            inplanes, base * 2**stage, stride if block == 0 else 1, dilation * factor, bottleneck
          )
        )
        inplanes = base * 2**stage * expansion
      stages.append(nn.Sequential(*layers))
    self.stages = nn.ModuleList(stages)
    low_channels = base * expansion
    aspp = scaled_channels(model_config.aspp_channels, width)
    rates = [r * 16 // model_config.output_stride for r in (6, 12, 18)]
    self.aspp_branches = nn.ModuleList(
      [_conv_bn_relu(inplanes, aspp, 1)]
      + [_conv_bn_relu(inplanes, aspp, 3, rate) for rate in rates]
    )
    self.aspp_pool = _conv_bn_relu(inplanes, aspp, 1)
    self.aspp_projection = _conv_bn_relu(5 * aspp, aspp, 1)
    self.aspp_dropout = nn.Dropout(model_config.aspp_dropout)
    self.aux_head = nn.Conv2d(aspp, 1, 1)
    low = scaled_channels(model_config.low_level_channels, width)
    decoder = scaled_channels(model_config.decoder_channels, width)
    self.low_level = _conv_bn_relu(low_channels, low, 1)
    first, second = model_config.decoder_dropouts
    self.fuse = nn.Sequential(
      _conv_bn_relu(aspp + low, decoder, 3),
      nn.Dropout(first),
      _conv_bn_relu(decoder, decoder, 3),
      nn.Dropout(second),
    )
    self.classifier = nn.Conv2d(decoder, 1, 1)

  def forward(self, images):
    """images [batch, 3, H, W] -> (final logits [batch, 1, H, W], auxiliary logits)."""
    x = self.stem(images)
    low_level = x = self.stages[0](x)
    for stage in self.stages[1:]:
      x = stage(x)
    branches = [branch(x) for branch in self.aspp_branches]
    pooled = self.aspp_pool(x.mean((2, 3), keepdim=True))
    branches.append(pooled.expand_as(branches[0]))
    aspp = self.aspp_dropout(self.aspp_projection(torch.cat(branches, 1)))
    low = self.low_level(low_level)
    high = F.interpolate(aspp, size=low.shape[2:], mode="bilinear", align_corners=False)
    logits_stride4 = self.classifier(self.fuse(torch.cat([high, low], 1)))
    logits = F.interpolate(
      logits_stride4, size=images.shape[2:], mode="bilinear", align_corners=False
    )
    return logits, self.aux_head(aspp), logits_stride4


def bce_at_every_output(outputs, mask):
  """Mean BCE of each output against the mask area-averaged to its size, summed."""
  total = 0.0
  for logits in outputs:
    target = F.adaptive_avg_pool2d(mask, logits.shape[2:])
    total = total + F.binary_cross_entropy_with_logits(logits, target)
  return total


def parameter_count(model_config) -> int:
  """The PyTorch network's parameter count."""
  return sum(p.numel() for p in DeepLabV3Plus(model_config).parameters())


class TorchStep:
  """One SGD step of the PyTorch network on a fixed batch.

  `device` "cpu" or "cuda"; `amp` runs the network under bfloat16 autocast (the
  usual PyTorch mixed precision, our `model.dtype="bfloat16"`); `compile` wraps the
  network in `torch.compile`. On CUDA the batch is channels-last, as AMP convolutions
  want, and every timing waits for the device.
  """

  def __init__(
    self, config, batch, threads: int, device: str = "cpu", amp: bool = False, compile: bool = False
  ):  # pylint: disable=redefined-builtin
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    self.device, self.amp = torch.device(device), amp
    torch.backends.cudnn.benchmark = True  # the usual setting for fixed-size training
    memory_format = torch.channels_last if device == "cuda" else torch.contiguous_format
    self.model = DeepLabV3Plus(config.model).to(self.device, memory_format=memory_format).train()
    self.network = torch.compile(self.model) if compile else self.model
    self.optimizer = torch.optim.SGD(
      self.model.parameters(),
      lr=config.optimizer.learning_rate,
      momentum=0.9,
      weight_decay=config.optimizer.weight_decay,
    )
    images = torch.from_numpy(np.ascontiguousarray(batch["image"].transpose(0, 3, 1, 2)))
    self.images = images.to(self.device, memory_format=memory_format)
    self.mask = torch.from_numpy(batch["mask"][:, None].astype(np.float32)).to(self.device)

  def _synchronize(self):
    if self.device.type == "cuda":
      torch.cuda.synchronize()

  def _autocast(self):
    return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp)

  def __call__(self) -> float:
    """Seconds of one training step."""
    self._synchronize()
    start = time.perf_counter()
    self.optimizer.zero_grad(set_to_none=True)
    with self._autocast():
      outputs = self.network(self.images)
    loss = bce_at_every_output([o.float() for o in outputs], self.mask)
    loss.backward()
    self.optimizer.step()
    self._synchronize()
    return time.perf_counter() - start

  def forward_seconds(self) -> float:
    """Seconds of one forward pass in evaluation mode."""
    with torch.no_grad(), self._autocast():
      self.model.eval()
      self._synchronize()
      start = time.perf_counter()
      self.network(self.images)
      self._synchronize()
      seconds = time.perf_counter() - start
      self.model.train()
    return seconds


def timed_functions(bce, config, torch_modes, threads, device, amp) -> tuple:
  """(our StepTimer of `bce`, {name: function returning its seconds}): our step and
  forward pass of `bce` (the config with a BCE loss only), our full NCL step of
  `config`, and PyTorch's step and forward pass per mode of `torch_modes` (under
  bfloat16 autocast where `amp`), all on our batch."""
  ours, full = benchmark.StepTimer(bce), benchmark.StepTimer(config)
  runs = {"ours": ours.step, "ours_full_ncl": full.step, "ours_forward": ours.forward}
  for mode in torch_modes:
    step = TorchStep(bce, ours.host_batch, threads, device, amp, compile=mode == "compile")
    runs[f"torch_{mode}"], runs[f"torch_{mode}_forward"] = step, step.forward_seconds
  return ours, runs


def interleaved_seconds(runs: dict, steps: int, warmup: int) -> dict:
  """{name: [seconds of each timed call]}: the functions called in turn, `warmup`
  rounds untimed, then `steps` timed."""
  times = {key: [] for key in runs}
  for index in range(warmup + steps):
    for key, run in runs.items():
      # Each measurement directly follows an untimed call of the same function, so
      # neither framework is timed while its memory is cold from the other's call.
      run()
      seconds = run()
      if index >= warmup:
        times[key].append(seconds)
  return times


def throughput(batch: int, flops_per_step: float, seconds: float, peak) -> dict:
  """Images per second, achieved TFLOP/s and MFU of a step of `seconds`; the FLOPs
  are XLA's count of our step, the same network in both frameworks."""
  tflops = flops_per_step / seconds / 1e12
  return {
    "train_images_per_second": batch / seconds,
    "achieved_tflops_per_second": tflops,
    "mfu": tflops / peak if peak else None,
  }


def compare_with_torch(config, steps=5, warmup=1, torch_modes=("eager",)) -> dict:
  """Median seconds of a training step and a forward pass of the same network and
  loss in ncl_jax and PyTorch, interleaved, with the full NCL step beside.

  `torch_modes`: "eager" and/or "compile" (`torch.compile`). PyTorch runs on CUDA
  when JAX does, under bfloat16 autocast when `model.dtype` is bfloat16.
  """
  if config.model.noise_residuals or config.model.constrained_residuals:
    raise ValueError(
      "compare_torch times the paper's network; model.noise_residuals and "
      "model.constrained_residuals have no PyTorch counterpart: leave them off to compare"
    )
  # The cores this process may run on, by which XLA:CPU sizes its thread pools: under
  # `taskset -c 0` both frameworks then run on one thread.
  threads = provenance.cores()
  device = "cuda" if jax.default_backend() == "gpu" else "cpu"
  amp = config.model.dtype == "bfloat16"
  bce = ablate.with_overrides(config, {"ncl.weight": 0.0, "pc.mode": "bce"})
  ours, runs = timed_functions(bce, config, torch_modes, threads, device, amp)
  times = interleaved_seconds(runs, steps, warmup)
  median = {key: statistics.median(values) for key, values in times.items()}
  peak = benchmark.peak_tflops(jax.devices()[0].device_kind)

  def rate(key):
    return throughput(config.batch_size, ours.flops_per_step, median[key], peak)

  result = {
    "device_kind": jax.devices()[0].device_kind,
    "threads": threads,
    "torch_version": torch.__version__,
    "torch_device": device,
    "torch_autocast_bfloat16": amp,
    "image_size": config.image_size,
    "global_batch": config.batch_size,
    "dtype": config.model.dtype,
    "model": benchmark.model_name(config.model),
    "conv_impl": config.model.conv_impl,
    "loss": "mean BCE at every output (ncl.weight=0, pc.mode=bce)",
    "ncl_jax": rate("ours"),
    "ncl_jax_full_ncl": rate("ours_full_ncl"),
    "ncl_jax_forward_seconds": median["ours_forward"],
    "step_seconds": times,
    "timed_steps": steps,
    "warmup_steps": warmup,
    **provenance.provenance(),
    "parameters": {
      "ncl_jax_segmentation": benchmark.parameter_count(bce, exclude=("pivot_",)),
      "torch": parameter_count(bce.model),
    },
  }
  for mode in torch_modes:
    result[f"torch_{mode}"] = rate(f"torch_{mode}")
    result[f"torch_{mode}_forward_seconds"] = median[f"torch_{mode}_forward"]
    result[f"ratio_to_torch_{mode}"] = median[f"torch_{mode}"] / median["ours"]
  return result


def define_flags():
  """Flags, defined only when run as a program."""
  config_flags.DEFINE_config_file("config", None, "Config file whose network is compared.")
  flags.DEFINE_integer("steps", 5, "Timed steps (after warm-up).")
  flags.DEFINE_integer("warmup", 1, "Untimed steps first.")
  flags.DEFINE_list("torch_modes", ["eager"], "PyTorch modes: eager and/or compile.")
  flags.DEFINE_string("output", "compare_torch.json", "Where the JSON goes.")
  flags.mark_flags_as_required(["config"])


def main(argv):
  """Compares the config's network in both frameworks and writes the JSON."""
  del argv
  result = compare_with_torch(
    validate_config(FLAGS.config), FLAGS.steps, FLAGS.warmup, FLAGS.torch_modes
  )
  print(json.dumps(result, indent=2))
  paths.write_json(FLAGS.output, result, indent=2)
  print(f"-> {FLAGS.output}")


if __name__ == "__main__":
  define_flags()
  app.run(main)

"""The same DeepLabV3+ in PyTorch, for speed comparisons only (`pip install -e ".[torch]"`).

`ncl_jax.benchmark --compare_torch` times one training step of this network and of
ours on the same batch, threads and loss: ResNet encoder (output stride 16 or 8 by
dilation, multi-grid in the last stage), ASPP with image pooling, the decoder with
its dropouts, an auxiliary head after ASPP and the classifier, trained with SGD and
the mean BCE at the final and auxiliary outputs (our `ncl.weight=0`,
`pc.mode=bce`). Channel widths follow the same width multiplier, so parameter
counts match ours (tested). PyTorch is imported here and nowhere else.
"""

import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ncl_jax.models.resnet import RESNET_LAYOUTS, scaled_channels


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
    with torch.no_grad(), self._autocast():
      self.model.eval()
      self._synchronize()
      start = time.perf_counter()
      self.network(self.images)
      self._synchronize()
      seconds = time.perf_counter() - start
      self.model.train()
    return seconds

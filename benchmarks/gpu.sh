#!/bin/bash
# The accelerator figures under benchmarks/: the paper's network (ResNet-101
# DeepLabV3+, 512 px, bfloat16, SGD, full NCL) at global batch 16, 32 and 8 with
# MFU and the input pipeline (forgeries synthesized from photos at the camera
# sizes of an accelerator run, 12 worker processes), then the same network and
# loss in PyTorch (eager with bfloat16 autocast, and torch.compile) interleaved
# with ours at batch 16. Each JSON is written as soon as it is measured.
#
#   bash benchmarks/gpu.sh OUTPUT_DIR [extra --config flags]
set -u
out=${1:-benchmarks}
shift || true
kind=$(python3 -c "import jax; print(jax.devices()[0].device_kind.lower().replace(' ', '_'))")
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-/tmp/ncl_jax_benchmark_cache}
paper=(--config=configs/photos.py --config.image_size=512 --config.model.depth=101
       --config.model.width=1.0 --config.model.dtype=bfloat16 --config.optimizer.name=sgd
       --config.optimizer.learning_rate=0.007 --config.optimizer.weight_decay=5e-4
       --config.ncl.max_patches_per_class=128 --config.input.num_workers=12
       --config.input.num_threads=2 "--config.dataset.synthesis.camera_long_side=(512,2048)"
       "$@")
nvidia-smi -L 2>/dev/null
timeout "${SWEEP_SECONDS:-450}" python3 -m ncl_jax.benchmark "${paper[@]}" --sweep=16,32,8 \
    --steps=10 --warmup=3 --pipeline_batches=10 --output="$out/${kind}_paper_bf16_sweep.json"
# PyTorch shares the device: JAX takes memory as it needs it instead of 75% up front.
XLA_PYTHON_CLIENT_PREALLOCATE=false timeout "${TORCH_SECONDS:-220}" python3 benchmarks/compare_torch.py \
    "${paper[@]}" --config.batch_size=16 --torch_modes=eager,compile \
    --steps=5 --warmup=2 --output="$out/${kind}_compare_torch_bf16_b16.json"

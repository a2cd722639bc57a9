"""The paper's recipe: DeepLabV3+ with a ResNet-101 encoder at output stride 16,
512x512 inputs, trained from scratch with SGD + polynomial decay.

Benchmark configs import this and override only what differs. Every value marked
choice listed in docs/method.md is a key here, so it can be changed from the command
line, e.g. `--config.ncl.temperature=0.2`.
"""

import ml_collections


def get_config(arg=""):
  """`arg` "runlocal" gives a smoke run (see apply_runlocal)."""
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.num_train_steps = 30_000
  # A schedule in epochs of the training split, where > 0 (turned into steps once the
  # dataset is built; config.json records the steps): the benchmark configs use these.
  config.num_epochs = 0.0
  config.eval_every_epochs = 0.0
  config.batch_size = 16  # global, over all devices and hosts
  config.eval_batch_size = 16
  config.image_size = 512
  config.patch_size = 16  # (choice) not stated in the paper
  config.log_every_steps = 50
  config.eval_every_steps = 2_000
  config.checkpoint_every_steps = 1_000
  config.keep_checkpoints = 3  # the latest N, plus the best by validation pixel F1
  config.eval_threshold = 0.5
  config.eval_at_original_size = True  # else at image_size (masks resized, nearest)
  # "ncl": the metrics of ncl_jax/metrics.py; "imdlbenco": IMDL-BenCo's evaluator (512x512,
  # authentic images scored 0, means over every image). A test dataset may set its own.
  config.eval_protocol = "ncl"
  # The image-level score under the "ncl" protocol and in predict: this quantile of the
  # probability map (1.0: its max, as the papers and IMDL-BenCo score a segmentation model).
  config.image_score_quantile = 1.0
  # Predictions (validation, test, predict) average the model over this many flips
  # and transposes of the image: 1 (the paper), 2, 4 or 8.
  config.prediction_views = 1
  config.num_summary_images = 4  # validation pictures in TensorBoard at each eval
  config.nan_policy = "stop"  # non-finite loss/gradient: "stop" or "skip" the step

  config.dataset = ml_collections.ConfigDict()
  config.dataset.name = "ncl_synthetic"
  config.dataset.data_dir = "~/tensorflow_datasets"
  config.dataset.manual_dir = ""
  config.dataset.train_split = "train"
  config.dataset.eval_split = "validation"  # model selection (best checkpoint); "" for none
  config.dataset.test_split = "test"  # evaluated once, with the best checkpoint; "" for none
  config.dataset.options = ml_collections.ConfigDict()  # builder-specific
  # More datasets evaluated at the end with the best checkpoint, each a ConfigDict
  # of name, split (default "test"), manual_dir, data_dir (default dataset.data_dir).
  config.test_datasets = ml_collections.ConfigDict()

  config.input = ml_collections.ConfigDict()
  config.input.train_crop = "resize"  # "resize" (paper: 512x512 resize) or "random_crop"
  config.input.random_flip = True
  config.input.random_rotate = False  # quarter turns too (not in the paper)
  config.input.num_workers = 0  # grain worker processes (0: threads in-process)
  config.input.num_threads = 8  # grain reader threads per process
  config.input.prefetch_to_device = 2  # batches transferred ahead of the step (0: none)
  config.input.mask_size_policy = "resize"  # mask size != image size: "resize" (nearest) or "skip"
  # Decoded training masks kept per process (MiB; 0: none): at 512 px a mask takes 32 KiB.
  config.input.mask_cache_mb = 256

  config.model = ml_collections.ConfigDict()
  config.model.depth = 101  # 18, 34, 50 or 101
  config.model.width = 1.0  # channel multiplier, for small test models
  config.model.output_stride = 16  # 16 or 8
  config.model.aspp_channels = 256
  config.model.low_level_channels = 48
  config.model.decoder_channels = 256
  config.model.dtype = "bfloat16"  # compute dtype; parameters, losses stay float32
  # The reference DeepLabV3+ recipe (jfzhang95/pytorch-deeplab-xception; docs/method.md).
  config.model.aspp_dropout = 0.5  # after the ASPP projection
  config.model.decoder_dropouts = (0.5, 0.1)  # after each of the decoder's two 3x3 convs
  config.model.multi_grid = (1, 2, 4)  # stage-4 dilations x the stage's (ResNet-18: 1, 2)
  config.model.zero_init_residual = False  # True: each block's last BatchNorm scale starts at 0
  config.model.head_init = "fan_in"  # He init of ASPP, decoder, heads ("fan_out": backbone's)
  # "auto": convolutions (and the stem's max-pool gradient) in forms XLA:CPU trains faster
  # on the CPU backend, XLA's elsewhere (same parameters and results to 1e-5); "xla":
  # XLA's everywhere. See ncl_jax/models/conv.py and pooling.py.
  config.model.conv_impl = "auto"
  # Beyond the paper: fixed SRM noise residuals as three more input channels
  # (ncl_jax/models/residuals.py; docs/method.md).
  config.model.noise_residuals = False
  # Beyond the paper: this many learned noise residuals (Bayar's constrained 5x5
  # convolutions of the grey level) as more input channels (0: none).
  config.model.constrained_residuals = 0

  config.ncl = ml_collections.ConfigDict()
  config.ncl.weight = 0.1  # omega (choice); 0 gives the segmentation baseline
  config.ncl.temperature = 0.1  # tau (choice)
  config.ncl.contour_role = "switch"  # switch | alternate | positive | negative | drop
  config.ncl.max_contour_patches = 16  # K (choice)
  config.ncl.max_patches_per_class = 128  # per image and class (choice)

  config.pc = ml_collections.ConfigDict()
  config.pc.mu = 0.7  # weight of contour pixels (choice)
  config.pc.mode = "pivot"  # "pivot" (the paper) or "bce": plain BCE, same outputs
  # Beyond the paper: this weight times a soft Dice loss of the final map (0: none).
  config.pc.dice_weight = 0.0

  # Several hosts: "auto" calls jax.distributed.initialize() where JAX can detect
  # the cluster (Cloud TPU pods, Slurm, JAX_COORDINATOR_ADDRESS set); "yes" always,
  # with the three keys below when given; "no" never.
  config.distributed = ml_collections.ConfigDict()
  config.distributed.initialize = "auto"
  config.distributed.coordinator_address = ""  # host:port of process 0
  config.distributed.num_processes = 0
  config.distributed.process_id = -1

  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.name = "sgd"  # "sgd" (momentum, the paper) or "adamw"
  config.optimizer.learning_rate = 0.007
  config.optimizer.momentum = 0.9
  config.optimizer.weight_decay = 5e-4
  config.optimizer.power = 0.9  # polynomial decay to 0 over num_train_steps
  config.optimizer.warmup_steps = 0
  config.optimizer.grad_clip_norm = 0.0  # 0 disables clipping
  # ASPP, decoder, output heads and pivot branches train at this multiple of the
  # learning rate (the reference: 10x for everything outside the backbone).
  config.optimizer.head_lr_multiplier = 10.0
  if arg == "runlocal":
    apply_runlocal(config)
  return config


def apply_runlocal(config):
  """Shrink any config to a smoke run (tiny model, 64 px, a few steps) that checks
  the whole pipeline in about a minute on a CPU: `--config=configs/X.py:runlocal`."""
  config.num_train_steps = 4
  config.batch_size = 4
  config.eval_batch_size = 4
  config.image_size = 64
  config.log_every_steps = 2
  config.eval_every_steps = 4
  config.checkpoint_every_steps = 2
  config.model.depth = 18
  config.model.width = 0.125
  config.model.aspp_channels = 64
  config.model.decoder_channels = 64
  config.ncl.max_patches_per_class = 8
  config.ncl.max_contour_patches = 4
  config.input.num_threads = 1
  config.model.dtype = "float32"  # CPUs are slow in bfloat16
  return config

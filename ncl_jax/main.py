"""Train or evaluate NCL.

  python -m ncl_jax.main --config=configs/synthetic.py --workdir=/tmp/ncl
  python -m ncl_jax.main --config=configs/synthetic.py --workdir=/tmp/ncl --mode=eval

Config files are Python and run as code: only use configs you trust.
"""

import sys

from absl import app, flags, logging
from ml_collections import config_flags

from ncl_jax.config_schema import validate_config
from ncl_jax.evaluation.checkpoint import evaluate_checkpoint
from ncl_jax.training import distributed, preemption, train

FLAGS = flags.FLAGS


def define_flags():
  """Flags, defined only when run as a program, so the CLI modules import together."""
  config_flags.DEFINE_config_file("config", None, "Training configuration file.", lock_config=True)
  flags.DEFINE_string("workdir", None, "Where checkpoints, metrics and evaluations go.")
  flags.DEFINE_enum(
    "mode",
    "train",
    ["train", "eval"],
    "train (resumes from workdir) or eval (best or --checkpoint step).",
  )
  flags.DEFINE_string(
    "checkpoint",
    None,
    "With --mode=eval: the step to evaluate (default: the best by validation pixel F1).",
  )
  flags.DEFINE_string("split", None, "With --mode=eval: the split (default: dataset.test_split).")
  flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  """Trains (or, with --mode=eval, evaluates) the config in the workdir."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.WARNING)
  distributed.maybe_initialize(FLAGS.config.get("distributed"))
  if FLAGS.mode == "train":
    try:
      train.train_and_evaluate(FLAGS.config, FLAGS.workdir)
    except preemption.Preempted as stopped:
      print(stopped, file=sys.stderr)
      sys.exit(stopped.exit_code)
  else:
    validate_config(FLAGS.config)
    evaluate_checkpoint(FLAGS.config, FLAGS.workdir, FLAGS.checkpoint, FLAGS.split)


if __name__ == "__main__":
  define_flags()
  app.run(main)

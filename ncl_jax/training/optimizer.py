"""The optimizer: SGD with momentum (the paper's recipe) or AdamW, with a
polynomial learning-rate decay after an optional linear warm-up, and the
reference's higher learning rate for everything outside the backbone."""

import jax
import optax

# Top-level modules trained at the base learning rate; every other one (ASPP,
# decoder, output heads, pivot branches) at `optimizer.head_lr_multiplier` times it.
BACKBONE_MODULES = ("encoder",)


def create_learning_rate_schedule(config):
  """Polynomial decay to 0 over the training steps, after the optional linear warm-up."""
  opt = config.optimizer
  decay = optax.polynomial_schedule(
    opt.learning_rate, 0.0, opt.power, max(1, config.num_train_steps - opt.warmup_steps)
  )
  if opt.warmup_steps <= 0:
    return decay
  warmup = optax.linear_schedule(0.0, opt.learning_rate, opt.warmup_steps)
  return optax.join_schedules([warmup, decay], [opt.warmup_steps])


def learning_rate_multipliers(params, head_multiplier: float):
  """A tree like `params` of each parameter's learning-rate multiplier."""
  return {
    module: jax.tree.map(
      lambda _, m=(1.0 if module in BACKBONE_MODULES else head_multiplier): m, subtree
    )
    for module, subtree in params.items()
  }


def scale_head_updates(tx, head_multiplier: float) -> optax.GradientTransformation:
  """`tx` with the updates of non-backbone parameters multiplied by `head_multiplier`.

  Scaling an SGD or AdamW update is scaling that parameter's learning rate, as a
  PyTorch parameter group with `lr * 10` does (weight decay included). The
  optimizer state is `tx`'s own, so checkpoints keep their structure."""
  if head_multiplier == 1.0:
    return tx

  def update(updates, state, params=None):
    updates, state = tx.update(updates, state, params)
    multipliers = learning_rate_multipliers(updates, head_multiplier)
    return jax.tree.map(lambda u, m: u * m, updates, multipliers), state

  return optax.GradientTransformation(tx.init, update)


def create_optimizer(config) -> optax.GradientTransformation:
  """SGD with momentum (the paper) or AdamW, polynomial decay, the head's learning
  rate multiplier, optional clipping."""
  opt = config.optimizer
  schedule = create_learning_rate_schedule(config)
  if opt.name == "sgd":
    tx = optax.chain(
      optax.add_decayed_weights(opt.weight_decay), optax.sgd(schedule, momentum=opt.momentum)
    )
  else:
    tx = optax.adamw(schedule, weight_decay=opt.weight_decay)
  tx = scale_head_updates(tx, opt.head_lr_multiplier)
  if opt.grad_clip_norm > 0:
    tx = optax.chain(optax.clip_by_global_norm(opt.grad_clip_norm), tx)
  return tx

"""The optimizer: SGD with momentum (the paper's recipe) or AdamW, with a
polynomial learning-rate decay after an optional linear warm-up."""
import optax


def create_learning_rate_schedule(config):
  opt = config.optimizer
  decay = optax.polynomial_schedule(opt.learning_rate, 0.0, opt.power,
                                    max(1, config.num_train_steps - opt.warmup_steps))
  if opt.warmup_steps <= 0:
    return decay
  warmup = optax.linear_schedule(0.0, opt.learning_rate, opt.warmup_steps)
  return optax.join_schedules([warmup, decay], [opt.warmup_steps])


def create_optimizer(config) -> optax.GradientTransformation:
  """SGD with momentum (the paper) or AdamW, polynomial decay, optional clipping."""
  opt = config.optimizer
  schedule = create_learning_rate_schedule(config)
  if opt.name == "sgd":
    tx = optax.chain(optax.add_decayed_weights(opt.weight_decay),
                     optax.sgd(schedule, momentum=opt.momentum))
  else:
    tx = optax.adamw(schedule, weight_decay=opt.weight_decay)
  if opt.grad_clip_norm > 0:
    tx = optax.chain(optax.clip_by_global_norm(opt.grad_clip_norm), tx)
  return tx

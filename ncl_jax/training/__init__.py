"""Training: the run's config checks, state and optimizer, the train step and loop
(`train.train_and_evaluate`), checkpoints, metric writers, devices and hosts, and
graceful preemption."""

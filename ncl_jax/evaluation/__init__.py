"""Evaluation: what is evaluated and where its JSON goes (`targets`), the loop that
scores a model on a dataset split (`loop`, with the metrics of ncl_jax.metrics),
the summary pictures (`pictures`), and the evaluation of a saved checkpoint on
every test target (`checkpoint`)."""

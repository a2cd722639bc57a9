"""Serving: a trained model as a function of images, with no training code. The one
checkpoint restore, the one prediction function (views, resizing, batching), the
`Predictor`, StableHLO export and the pictures of a prediction. Importing it loads
neither the input pipeline nor TFDS, grain, optax or TensorBoard."""

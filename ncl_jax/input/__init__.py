"""Input: decoding and resizing images and masks (`imaging`, shared with serving),
and the grain pipelines that turn a dataset split into training and evaluation
batches (`input_pipeline`)."""

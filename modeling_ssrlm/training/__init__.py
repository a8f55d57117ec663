"""Training glue: Trainer subclasses, pre-training and fine-tuning pipelines, threshold search, overrides.

Never shipped with a model folder.
"""

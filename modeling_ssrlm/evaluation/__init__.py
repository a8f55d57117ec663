"""Evaluation: secondary-structure metrics and scoring of baselines.

Never shipped with a model folder.
"""

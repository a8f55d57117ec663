"""Data building: benchmark splits, pre-training corpus, ViennaRNA labelling, masking, packing, collators.

Never shipped with a model folder.
"""

"""Datasets for the synthetic-image detector: loaders, group-aware splits, augmentations, fake builders.

Light modules (``loaders``, ``splits``, ``augment``) need only numpy/PIL/OpenCV. ``builders`` imports torch
lazily, only for the builders that run a network (autoencoder reconstructions, random decoders).
"""
from .loaders import Sample, load_dataset, load_forensynths, load_genimage, load_labels_csv
from .splits import group_split, split_of

__all__ = ["Sample", "load_dataset", "load_forensynths", "load_genimage", "load_labels_csv",
           "group_split", "split_of"]

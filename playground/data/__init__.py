"""Datasets for training runs, all ending up as uint8 tensors on the training device.

- :mod:`.catalog`: every dataset once (``DATASETS``) and ``load_data(cfg)``, which turns a
  JSON-able data config into a :class:`Dataset`;
- :mod:`.shapes`: the offline default, generated shapes with their masks;
- :mod:`.torchvision_sets`: MNIST, FashionMNIST, CIFAR-10 in torchvision's own folder layout;
- :mod:`.folders`: a learner's zip or folder, its files listed safely (zip bombs, links, ``..``);
- :mod:`.layouts`: what its paths mean (``LAYOUTS``: class folders, train/val/test splits);
- :mod:`.decoding`: its images read in parallel with the app's one decoder, cached on disk;
- :mod:`.inspection`: ``inspect_source`` (what the app understood, before training), ``load_own``
  (the Dataset), ``propose_model`` (a network that fits the data);
- :mod:`.augment`: whole-batch augmentation and normalization on the device;
- :mod:`.dataset`: the :class:`Dataset` itself and the errors.
"""
from .augment import AUGMENT_DEFAULTS, IMAGENET_MEAN, IMAGENET_STD, augment, normalize, to_model_input
from .catalog import (DATASETS, OWN_DATA, PROPOSALS, DatasetEntry, data_config, entry, load_data,
                      shapes_val_count)
from .dataset import DataError, Dataset, DataUnavailable, UnsafeArchive, mean_std
from .folders import IMAGE_SUFFIXES, check_zip, open_source
from .inspection import (Inspection, describe_zip, inspect_source, load_image_folder, load_own,
                         propose_model, proposed_model)
from .layouts import LAYOUTS, Layout, expected_layouts
from .shapes import DEFAULT_SHAPES, HOLLOW_SHAPES, SHAPE_CLASSES, ShapesData, make_shapes
from .torchvision_sets import TORCHVISION_SETS, expected_location, load_torchvision

__all__ = ["AUGMENT_DEFAULTS", "IMAGENET_MEAN", "IMAGENET_STD", "augment", "normalize", "to_model_input",
           "DATASETS", "OWN_DATA", "PROPOSALS", "DatasetEntry", "data_config", "entry", "load_data",
           "shapes_val_count", "DataError", "Dataset", "DataUnavailable", "UnsafeArchive", "mean_std",
           "IMAGE_SUFFIXES", "check_zip", "open_source",
           "Inspection", "describe_zip", "inspect_source", "load_image_folder", "load_own",
           "propose_model", "proposed_model", "LAYOUTS", "Layout", "expected_layouts",
           "DEFAULT_SHAPES", "HOLLOW_SHAPES", "SHAPE_CLASSES", "ShapesData", "make_shapes",
           "TORCHVISION_SETS", "expected_location", "load_torchvision"]

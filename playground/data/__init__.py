"""Datasets for training runs, all ending up as uint8 tensors on the training device.

- :mod:`.catalog`: every dataset once (``DATASETS``) and ``load_data(cfg)``, which turns a
  JSON-able data config into a :class:`Dataset`;
- :mod:`.shapes`: the offline default, generated shapes with their masks;
- :mod:`.torchvision_sets`: MNIST, FashionMNIST, CIFAR-10 in torchvision's own folder layout;
- :mod:`.folders`: a learner's zip or folder of class folders, checked before it is read;
- :mod:`.augment`: whole-batch augmentation and normalization on the device;
- :mod:`.dataset`: the :class:`Dataset` itself and the errors.
"""
from .augment import AUGMENT_DEFAULTS, IMAGENET_MEAN, IMAGENET_STD, augment, normalize, to_model_input
from .catalog import DATASETS, DatasetEntry, data_config, entry, load_data, shapes_val_count
from .dataset import DataError, Dataset, DataUnavailable, UnsafeArchive, mean_std
from .folders import IMAGE_SUFFIXES, check_zip, describe_zip, load_image_folder
from .shapes import DEFAULT_SHAPES, HOLLOW_SHAPES, SHAPE_CLASSES, ShapesData, make_shapes
from .torchvision_sets import TORCHVISION_SETS, expected_location, load_torchvision

__all__ = ["AUGMENT_DEFAULTS", "IMAGENET_MEAN", "IMAGENET_STD", "augment", "normalize", "to_model_input",
           "DATASETS", "DatasetEntry", "data_config", "entry", "load_data", "shapes_val_count",
           "DataError", "Dataset", "DataUnavailable", "UnsafeArchive", "mean_std",
           "IMAGE_SUFFIXES", "check_zip", "describe_zip", "load_image_folder",
           "DEFAULT_SHAPES", "HOLLOW_SHAPES", "SHAPE_CLASSES", "ShapesData", "make_shapes",
           "TORCHVISION_SETS", "expected_location", "load_torchvision"]

"""Data pipeline: PaddleClas-style transform ops, datasets and the DataLoader builder."""
from .transforms import (TRANSFORM_OPS, BATCH_OPS, Compose, BatchCompose, ImageDecodeError,
                         DecodeImage, ResizeImage, RandCropImage, CropImage, RandFlipImage,
                         NormalizeImage, ToCHWImage, ToChannels, GrayToRGB, MixupOperator,
                         CutmixOperator, OpSampler, create_operators, create_batch_operators,
                         parse_number, seed_transforms)
from .datasets import (FashionMNIST, ImageNetDataset, ImageFolder, BadImageError,
                       FASHION_MNIST_CLASSES)
from .builder import build_dataloader, dataset_from_config, Collate

__all__ = ["TRANSFORM_OPS", "BATCH_OPS", "Compose", "BatchCompose", "ImageDecodeError",
           "DecodeImage", "ResizeImage", "RandCropImage", "CropImage", "RandFlipImage",
           "NormalizeImage", "ToCHWImage", "ToChannels", "GrayToRGB", "MixupOperator",
           "CutmixOperator", "OpSampler", "create_operators", "create_batch_operators",
           "parse_number", "seed_transforms", "FashionMNIST", "ImageNetDataset", "ImageFolder",
           "BadImageError", "FASHION_MNIST_CLASSES", "build_dataloader", "dataset_from_config",
           "Collate"]

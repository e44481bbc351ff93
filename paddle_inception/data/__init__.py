"""Data pipeline: PaddleClas-style transform ops, datasets and the DataLoader builder."""
from .builder import Collate, build_dataloader, dataset_from_config
from .datasets import (
                         FASHION_MNIST_CLASSES,
                         BadImageError,
                         FashionMNIST,
                         ImageFolder,
                         ImageNetDataset,
)
from .transforms import (
                         BATCH_OPS,
                         TRANSFORM_OPS,
                         BatchCompose,
                         Compose,
                         CropImage,
                         CutmixOperator,
                         DecodeImage,
                         GrayToRGB,
                         ImageDecodeError,
                         MixupOperator,
                         NormalizeImage,
                         OpSampler,
                         RandCropImage,
                         RandFlipImage,
                         ResizeImage,
                         ToChannels,
                         ToCHWImage,
                         create_batch_operators,
                         create_operators,
                         parse_number,
                         seed_transforms,
)

__all__ = ["TRANSFORM_OPS", "BATCH_OPS", "Compose", "BatchCompose", "ImageDecodeError",
           "DecodeImage", "ResizeImage", "RandCropImage", "CropImage", "RandFlipImage",
           "NormalizeImage", "ToCHWImage", "ToChannels", "GrayToRGB", "MixupOperator",
           "CutmixOperator", "OpSampler", "create_operators", "create_batch_operators",
           "parse_number", "seed_transforms", "FashionMNIST", "ImageNetDataset", "ImageFolder",
           "BadImageError", "FASHION_MNIST_CLASSES", "build_dataloader", "dataset_from_config",
           "Collate"]

from .base import ClassifierHead, InceptionModel
from .googlenet import GoogLeNet, Inception, InceptionAux, googlenet, googlenet_bn

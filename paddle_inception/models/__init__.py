from .base import ClassifierHead, InceptionModel
from .googlenet import GoogLeNet, Inception, InceptionAux, googlenet, googlenet_bn
from .inception_v4 import InceptionV4, inception_v4
from .inception_resnet import (InceptionResNetV1, InceptionResNetV2, inception_resnet_v1,
                               inception_resnet_v2)
from .inception_v3 import InceptionV3, inception_v3
from .bninception import BNInception, bninception

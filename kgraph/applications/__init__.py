"""Keras 2.0.5's application models (`keras.applications`), with their ImageNet weights.

Each model has the layers, names and weight shapes of Keras 2.0.5, so the published
weight files load into it by topology.
"""

from __future__ import annotations

from kgraph.applications import imagenet_utils
from kgraph.applications.inception_v3 import InceptionV3
from kgraph.applications.resnet50 import ResNet50
from kgraph.applications.vgg16 import VGG16
from kgraph.applications.vgg19 import VGG19
from kgraph.applications.xception import Xception

__all__ = ["InceptionV3", "ResNet50", "VGG16", "VGG19", "Xception", "imagenet_utils"]

"""Image classifiers for the classification studies: loading offline, predicting, fine-tuning.

Every classifier takes ``(B, 3, H, W)`` RGB in [0, 1] (the dejpeg convention) and returns logits; the
normalisation and input size its network expects are applied inside (:class:`ImageClassifier`).
"""

from dejpeg.classifiers.cifar_resnet import CifarResNet
from dejpeg.classifiers.loading import ImageClassifier, load_classifier, save_classifier
from dejpeg.classifiers.training import predict, train_classifier

__all__ = ["CifarResNet", "ImageClassifier", "load_classifier", "save_classifier", "predict", "train_classifier"]

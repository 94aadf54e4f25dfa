"""EGGesture networks: quantizer, motion VQ-VAE, audio/text encoders, index classifier.

Import the pieces from their modules (``egg_core.model.eggesture`` for the whole model);
this package file stays light so ``import egg_core.model.audio`` does not build anything.
"""

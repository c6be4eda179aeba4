"""Training: building networks from specs, data preparation, the loop, early stopping, clipping, augmentation, evaluation."""

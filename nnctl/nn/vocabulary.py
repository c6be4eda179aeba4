"""The core's words for activations, weight initializers, losses and kernel implementations, importable without NumPy.

The spec's schema takes its choices from here, so that validating a spec
(`nnctl spec check`) does not load NumPy. The registries that implement the
words (``ACTIVATIONS``, ``STD_RULES``, ``FIXED_KERNELS``, ``LOSSES``) are keyed by the same words
in the same order; tests/test_vocabulary.py holds both sides together.
"""

ACTIVATION_NAMES = ("relu", "leaky_relu", "elu", "tanh", "sigmoid", "linear", "softmax")  # in the error messages' order
INITIALIZER_NAMES = ("zeros", "random", "xavier", "glorot", "he")
FIXED_KERNEL_NAMES = ("vertical_edge", "horizontal_edge", "sobel", "scharr")  # initializers.FIXED_KERNELS
LOSS_NAMES = ("binary_cross_entropy", "softmax_cross_entropy", "mse")
KERNEL_CHOICES = ("auto", "numpy", "compiled")  # train.kernels; auto: compiled when the fast extra is installed

"""The NumPy core: layers, losses, initializers, network, optimizers, schedules, metrics, gradient checking."""

"""Training: building networks from specs, the loop, callbacks, evaluation and run sessions."""

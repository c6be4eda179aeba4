"""Export of a trained run for use outside nnctl: an ONNX graph or plain NumPy arrays.

`describe` reads the network once into a format-neutral layer graph (JSON plus
named arrays); the ONNX builder and the npz writer each turn that description
into a file, so both formats show the same layers with the same parameters.
"""

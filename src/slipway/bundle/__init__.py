"""The model bundle's format, readable without torch or pandas.

A bundle is one folder of plain files (see ``layout``): the dataset contract, the fitted
preprocessing, the network's spec and its weights. This package is the format itself,
shared by the side that writes bundles (``slipway.training``, which adds fitting on
frames and the torch network) and the side that reads them per request
(``slipway.serving``, which must not import torch, pandas or training code):

    layout          file names, ``find_bundle``, ``read_bundle`` (the torch-free view)
    preprocessing   the fitted preprocessing as data, with its numpy row transform
    network         the network's spec and the names and shapes of its parameters
    weights         the weights as numpy arrays, in safetensors (no pickle)
"""

"""An example genolang plugin: ``squeeze_excite`` (an op on maps) and ``swish`` (an activation).

:mod:`.meta` holds the metadata (torch-free: ``genolang check`` imports it);
:mod:`.build` the PyTorch modules (imported by ``genolang compile`` and ``export``).
"""

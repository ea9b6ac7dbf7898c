"""Backbone registry: the AV-MNIST LeNets of MFAS, small CPU CNNs, torchvision models, a user's factory.

``BACKBONES.get(model)`` gives a :class:`BackboneSpec`; importing this package registers
every backbone.
"""

from __future__ import annotations

from genolang.compiler.backbones import external, lenet, small_cnn  # noqa: F401  (registration)
from genolang.compiler.backbones.base import (
                                              BACKBONES,
                                              Backbone,
                                              BackboneSpec,
                                              as_tap_list,
                                              dry_run_shapes,
                                              load_weights,
                                              read_state_dict,
)

__all__ = ["BACKBONES", "Backbone", "BackboneSpec", "as_tap_list", "dry_run_shapes", "load_weights",
           "read_state_dict"]

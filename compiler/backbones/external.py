"""Backbones from outside: ``torchvision`` (any torchvision model by name) and ``custom``.

``torchvision`` (ARCHITECTURE.md "backbones"; BM-NAS taps torchvision VGG19 features the
same way, seed_algorithms.md section 1.3): ``torchvision.models.get_model(name,
weights=None)`` (random init; nothing is downloaded), then the weights of a LOCAL checkpoint
when ``weights`` is given, then ``torchvision.models.feature_extraction.
create_feature_extractor`` returning the graph nodes listed in ``taps``, in order: node names as
``get_graph_node_names`` prints them, or a module's name for its last node (e.g.
``["layer2", "layer4", "avgpool"]`` for a ResNet).

``custom``: a user's ``"package.module:factory"`` (the factory is called without arguments
and returns an ``nn.Module``), its checkpoint loaded with ``weights_only=True``. Its taps are
the nodes listed in ``taps`` (feature extraction as above), or, without ``taps``, the
module's own output(s): a tensor, or a list, tuple or dict of tensors.

Tap shapes come from a dry run on the meta device (:func:`.base.dry_run_shapes`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from genolang.compiler.backbones.base import BACKBONES, Shape, dry_run_shapes, load_weights
from genolang.compiler.errors import CompileError, OpParamError, UnknownNameError
from genolang.compiler.registry import REQUIRED, close_names


class TapExtractor(nn.Module):
    """``create_feature_extractor`` around ``model``; forward returns the tapped nodes as a list."""

    returns_tap_list = True  # forward gives the list of taps: the compiled forward calls it directly

    def __init__(self, model: nn.Module, taps: Sequence[str]):
        super().__init__()
        from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

        taps = _tap_names(taps)
        nodes = get_graph_node_names(model)[1]
        known = set(nodes) | {n.rsplit(".", i)[0] for n in nodes for i in range(1, n.count(".") + 1)}
        for tap in taps:
            if tap not in known:
                close = close_names(tap, list(known))
                hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
                raise UnknownNameError(f"backbone has no graph node {tap!r}{hint} "
                                       f"(see torchvision.models.feature_extraction.get_graph_node_names)", close)
        self.taps = list(taps)
        self.extractor = create_feature_extractor(model, return_nodes={t: t for t in taps})

    def forward(self, x: Any) -> list[Any]:
        out = self.extractor(x)
        return [out[t] for t in self.taps]


def _tap_names(taps: Any) -> list[str]:
    if isinstance(taps, str) or not isinstance(taps, Sequence) or not taps or \
            not all(isinstance(t, str) for t in taps):
        raise OpParamError(f"backbone taps must be a non-empty list of graph node names, got {taps!r}")
    return list(taps)


def torchvision_model(name: str) -> nn.Module:
    """A randomly initialised torchvision model (``weights=None``); unknown names get close names."""
    import torchvision

    known = torchvision.models.list_models()
    if name not in known:
        close = close_names(str(name), known)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise UnknownNameError(f"unknown torchvision model {name!r}{hint}", close)
    model: nn.Module = torchvision.models.get_model(name, weights=None)
    return model


def _torchvision_body(name: str, taps: Sequence[str], weights: Any = None) -> nn.Module:
    model = torchvision_model(name)
    if weights is not None:
        load_weights(model, weights)
    return TapExtractor(model.eval(), taps)


@BACKBONES.register("torchvision", params={"name": REQUIRED, "taps": REQUIRED},
                    tap_shapes=lambda *, in_shape, name, taps: dry_run_shapes(
                        lambda: _torchvision_body(name, taps), in_shape),
                    source="torchvision.models.get_model + feature_extraction.create_feature_extractor")
def torchvision_backbone(*, in_shape: Shape, weights: Any = None, name: str, taps: Sequence[str]) -> nn.Module:
    """Any torchvision model, random init or a local checkpoint, tapped at graph nodes."""
    return _torchvision_body(name, taps, weights)


def resolve_factory(spec: str) -> Callable[[], nn.Module]:
    """The callable named by ``"package.module:attr[.attr]"``."""
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise OpParamError(f"a custom backbone factory is 'package.module:callable', got {spec!r}")
    module_name, attr = spec.split(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise CompileError(f"custom backbone factory {spec!r}: cannot import {module_name!r} ({err})") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            close = close_names(part, [n for n in dir(obj) if not n.startswith("_")])
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise UnknownNameError(f"custom backbone factory {spec!r}: no attribute {part!r}{hint}", close)
        obj = getattr(obj, part)
    if not callable(obj):
        raise CompileError(f"custom backbone factory {spec!r} is not callable")
    factory: Callable[[], nn.Module] = obj  # what it returns is checked where it is called
    return factory


def _custom_body(factory: str, taps: Any = None, weights: Any = None) -> nn.Module:
    model = resolve_factory(factory)()
    if not isinstance(model, nn.Module):
        raise CompileError(f"custom backbone factory {factory!r} returned a {type(model).__name__}, not an nn.Module")
    if weights is not None:
        load_weights(model, weights)
    if taps is None or isinstance(taps, int):
        return model
    return TapExtractor(model, taps)


def _custom_shapes(*, in_shape: Shape, factory: str, taps: Any = None) -> list[Shape]:
    shapes = dry_run_shapes(lambda: _custom_body(factory, taps), in_shape)
    if isinstance(taps, int) and len(shapes) != taps:
        raise CompileError(f"custom backbone {factory!r} gives {len(shapes)} outputs, the file says taps = {taps}")
    return shapes


@BACKBONES.register("custom", params={"factory": REQUIRED, "taps": None}, tap_shapes=_custom_shapes,
                    source="a user's package.module:factory")
def custom_backbone(*, in_shape: Shape, weights: Any = None, factory: str, taps: Any = None) -> nn.Module:
    """A user's module: its outputs (or the graph nodes in ``taps``) are the taps."""
    return _custom_body(factory, taps, weights)

"""The backbone registry, its entry type, the frozen-aware wrapper and checkpoint loading.

A backbone is a fixed, possibly pre-trained module per modality (ARCHITECTURE.md,
"backbones"): ``BACKBONES.get(model).build(in_shape=..., frozen=..., weights=..., **params)``
returns a :class:`Backbone` whose forward gives the LIST of its feature taps (the language's
``net.tap[i]``), and ``tap_shapes(in_shape, **params)`` gives their shapes (batch omitted)
without building real weights: in closed form, or by a dry run on the meta device.

Frozen (``frozen = true``): every parameter gets ``requires_grad = False`` and the body stays
in eval mode (BN uses its running statistics) even when the enclosing network is put in
train mode. (BM-NAS keeps frozen backbones in train mode, seed_algorithms.md section 1.6, a
quirk we do not copy: a frozen backbone here is a fixed function.)

Checkpoints are read with ``torch.load(weights_only=True)`` (tensors only, no pickled code);
a ``module.`` prefix (DataParallel) is stripped, a ``{"state_dict": ...}`` or
``{"model": ...}`` wrapper is opened, and the checkpoint of a model holding the backbone (a
unimodal net trained by ``genolang train``) gives the backbone's part of it. A relative
``weights`` path in a space is relative to the space's file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genolang.compiler.errors import CompileError, RegistryError, ShapeError
from genolang.compiler.registry import Registry, bind_params, first_line
from genolang.fields import fields_from_params
from genolang.opmeta import BACKBONE_META, BackboneMeta, MetaError

Shape = tuple[int, ...]


class Backbone(nn.Module):
    """Wraps a feature body; ``forward(x)`` returns the list of tap tensors."""

    def __init__(self, body: nn.Module, *, frozen: bool = False, model: str = ""):
        super().__init__()
        self.body = body
        self.frozen = bool(frozen)
        self.model = model
        if self.frozen:
            self.body.requires_grad_(False)
            self.body.eval()

    def train(self, mode: bool = True) -> Backbone:
        """Like :meth:`nn.Module.train`, but a frozen body stays in eval mode."""
        super().train(mode)
        if self.frozen:
            self.body.eval()
        return self

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return as_tap_list(self.body(x))


def as_tap_list(out: Any) -> list[torch.Tensor]:
    """A module output as a list of tensors: a tensor, a list/tuple, or a dict (in order)."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, Mapping):
        return list(out.values())
    if isinstance(out, (list, tuple)) and all(isinstance(t, torch.Tensor) for t in out):
        return list(out)
    raise CompileError(f"a backbone must return a tensor, or a list, tuple or dict of tensors; "
                       f"got {type(out).__name__}")


@dataclass(frozen=True)
class BackboneSpec:
    """One registered backbone: ``factory(*, in_shape, weights, **params) -> body`` and its taps."""

    name: str
    factory: Callable[..., nn.Module]
    tap_shapes_fn: Callable[..., list[Shape]]
    taps: int | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""

    def bind(self, params: Mapping[str, Any], *, strict: bool = True) -> dict[str, Any]:
        """``params`` with defaults filled in; unknown keys raise (or are dropped if not strict)."""
        return bind_params(f"backbone {self.name!r}", self.params, params, strict=strict)

    def build(self, *, in_shape: Sequence[int], frozen: bool = False, weights: str | Path | None = None,
              **params: Any) -> Backbone:
        """The wrapped module; ``weights``: a local checkpoint path (never downloaded)."""
        body = self.factory(in_shape=tuple(in_shape), weights=weights, **self.bind(params))
        return Backbone(body, frozen=frozen, model=self.name)

    def tap_shapes(self, in_shape: Sequence[int], **params: Any) -> list[Shape]:
        """The shapes of the taps (batch omitted) for an input of ``in_shape``."""
        shapes = self.tap_shapes_fn(in_shape=tuple(int(d) for d in in_shape), **self.bind(params))
        if self.taps is not None and len(shapes) != self.taps:
            raise CompileError(f"backbone {self.name!r} should have {self.taps} taps, has {len(shapes)}")
        return [tuple(int(d) for d in s) for s in shapes]


    def macs(self, in_shape: Sequence[int], **params: Any) -> int:
        """Multiply-accumulates per sample, counted by running the body on the meta device."""
        from torch.utils.flop_counter import FlopCounterMode

        shape = tuple(int(d) for d in in_shape)
        with torch.device("meta"):
            body = self.factory(in_shape=shape, weights=None, **self.bind(params)).eval()
            x = torch.zeros(1, *shape)
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            body(x)
        return int(counter.get_total_flops()) // 2


def _wrap(name: str, factory: Callable[..., nn.Module], *, tap_shapes: Callable[..., list[Shape]],
          taps: int | None = None, params: Mapping[str, Any] | None = None, source: str = "") -> BackboneSpec:
    """The spec of ``factory``; a backbone new to the language gets its metadata registered too."""
    if name not in BACKBONE_META:
        meta = BackboneMeta(name, taps, fields_from_params(params or {}), builder=factory, source=source)
        BACKBONE_META.add(name, meta, origin=getattr(factory, "__module__", "?"))
    elif BACKBONE_META.get(name).builder is not None or BACKBONE_META.get(name).taps != taps:
        raise RegistryError(f"backbone {name!r} is already registered (by {BACKBONE_META.origin(name)}); "
                            f"registering it again from {getattr(factory, '__module__', '?')} is refused")
    return BackboneSpec(name, factory, tap_shapes, taps, dict(params or {}), source or first_line(factory))


def _from_meta(name: str) -> BackboneSpec | None:
    """A plugin backbone's spec: its builder ``factory(*, in_shape, weights, **params)``, taps by a dry run."""
    if name not in BACKBONE_META:
        return None
    meta = BACKBONE_META.get(name)
    try:
        factory = meta.load()
    except MetaError as err:
        raise CompileError(err.first.message) from None
    params = {f.name: f.default for f in meta.fields}

    def shapes(*, in_shape: Shape, **p: Any) -> list[Shape]:
        return dry_run_shapes(lambda: factory(in_shape=in_shape, weights=None, **p), in_shape)

    return BackboneSpec(name, factory, shapes, meta.taps, params, meta.source or first_line(factory))


#: the backbone registry: ``BACKBONES.get(model)`` -> :class:`BackboneSpec`
BACKBONES: Registry[BackboneSpec] = Registry("backbone", wrap=_wrap, fallback=_from_meta,
                                             extra_names=BACKBONE_META.names)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a local checkpoint, loaded with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise CompileError(f"backbone weights: no file {str(path)!r}")
    obj = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping):
        raise CompileError(f"backbone weights {str(path)!r} hold a {type(obj).__name__}, not a state dict")
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in obj.items()}


def load_weights(module: nn.Module, path: str | Path, *, ignore: Sequence[str] = ()) -> None:
    """Load a local checkpoint into ``module`` (strict, except keys starting with ``ignore``).

    The checkpoint is the module's own state dict, or that of a model holding it (e.g. the
    ``model.pt`` of ``genolang train`` on a unimodal net): then the one key prefix under which
    every key of ``module`` is found is used (:func:`sub_state_dict`).
    """
    state = {k: v for k, v in read_state_dict(path).items() if not k.startswith(tuple(ignore))}
    wanted = module.state_dict().keys()
    if state.keys() != wanted:
        state = sub_state_dict(state, wanted, path) or state
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise CompileError(f"backbone weights {str(path)!r} do not fit the model: {err}") from None


def sub_state_dict(state: Mapping[str, torch.Tensor], wanted: Iterable[str],
                   path: str | Path = "") -> dict[str, torch.Tensor] | None:
    """The part of ``state`` under the one prefix ``p`` with ``p + key`` present for every wanted key.

    ``None`` when no prefix holds them all; several prefixes (a checkpoint holding two such
    modules) are an error naming them.
    """
    wanted = list(wanted)
    if not wanted:
        return None
    first = wanted[0]
    prefixes = {k[: len(k) - len(first)] for k in state if k.endswith(first)}
    fits = sorted(p for p in prefixes if (not p or p.endswith(".")) and all(p + k in state for k in wanted))
    if len(fits) > 1:
        raise CompileError(f"backbone weights {str(path)!r} hold several fitting modules, under "
                           f"{', '.join(repr(p) for p in fits)}: save the one wanted on its own")
    return {k: state[fits[0] + k] for k in wanted} if fits else None


def dry_run_shapes(make: Callable[[], nn.Module], in_shape: Shape) -> list[Shape]:
    """Tap shapes by running ``make()`` on a meta tensor (no memory, no compute).

    Falls back to a CPU zero tensor when the meta run fails (an op without a meta kernel, a
    factory that insists on real tensors); a failure there is a :class:`ShapeError`.
    """
    try:
        return _run(make, in_shape, "meta")
    except CompileError:
        raise
    except Exception:  # any meta failure: retry for real, which reports properly
        pass
    try:
        return _run(make, in_shape, "cpu")
    except CompileError:
        raise
    except Exception as err:  # a user's module may raise anything
        raise ShapeError(f"backbone cannot take an input of shape {list(in_shape)}: {err}") from None


def _run(make: Callable[[], nn.Module], in_shape: Shape, device: str) -> list[Shape]:
    with torch.device(device):
        body = make().eval()
    with torch.no_grad():
        out = as_tap_list(body(torch.zeros(1, *in_shape, device=device)))
    return [tuple(t.shape[1:]) for t in out]

"""Parameter sharing across sampled architectures: RandomNet's (after ENAS) and MFAS's schemes.

RandomNet trains each sampled architecture for only S steps; to make those few steps worth
more, a network starts from the weights that earlier architectures left at the same place.
:class:`WeightBank` keeps those weights. A bank's ``scheme`` says which tensors of a network
it shares and under which key. The default scheme (:func:`node_tensors`, RandomNet's) shares
every node's tensors, keyed by

    (graph node name, parameter or buffer name inside the node's module, shape)

The node name says where and what: ``"image_stack[1].layer[2]/conv3x3"`` is the 3x3
convolution of layer 2 of the second image cell. So two genotypes share a tensor only when
they put the same op at the same place and its shape matches (a node whose width or inputs
changed keeps its fresh initialization). Parameters and persistent buffers (BatchNorm
running statistics) are shared; non-persistent buffers are not.

MFAS's scheme (:class:`LayerScheme`, the reference's ``get/set_central_states`` with
``--weightsharing``, key ``"{layer}.L_{in}_{out}.A_{act}"``) shares the fusion layers only,
never the classifier nor anything outside the repeated fusion node, keyed by

    ("<layer index>.A_<activation>", tensor name inside the layer, shape)

so fusion layer ``l`` takes the weights of the last architecture that trained a layer ``l``
with the same activation and the same input and output widths.

The bank holds CPU copies: :meth:`WeightBank.load_into` copies them into a fresh network
(on any device), :meth:`WeightBank.store_from` copies a trained network's tensors back.

A search has one bank, the driver's. A trial, wherever it runs, gets the bank as it was when
the trial was dispatched (:meth:`WeightBank.snapshot`, a :class:`BankState` that travels with
the job) and trains on a :meth:`~WeightBank.fork` of it; the tensors it stored
(:meth:`~WeightBank.written`) travel back with its outcome and the driver adds them to its
bank (:meth:`~WeightBank.update`). A bank never changes a stored tensor in place (it copies
out of it and replaces it), so a snapshot shares the bank's tensors instead of copying them.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import nn

from genolang.compiler.module import GraphNet
from genolang.files import atomic_write

log = logging.getLogger(__name__)

Key = tuple[str, str, tuple[int, ...]]
Scheme = Callable[[GraphNet], Iterator[tuple[Key, torch.Tensor]]]


def node_tensors(net: GraphNet) -> Iterator[tuple[Key, torch.Tensor]]:
    """(key, tensor) for every parameter and persistent buffer of a GraphNet's node modules.

    The tensors are the module's own (``state_dict`` views): copying into them changes the net.
    """
    names: dict[str, str] = getattr(net, "names", {})
    for node in net.graph.nodes:
        module = getattr(net, names.get(node.name, ""), None) if node.name in names else None
        if not isinstance(module, nn.Module):
            continue
        for pname, tensor in module.state_dict(keep_vars=True).items():
            yield (node.name, pname, tuple(tensor.shape)), tensor


@dataclass(frozen=True)
class LayerScheme:
    """MFAS's sharing: the tensors of the repeated fusion node's instances only (module doc).

    ``layers[l]`` is the entity path of fusion layer ``l`` (``"fusion[2]"``); a layer's
    activation is that of its ``act`` graph nodes (``"none"`` when it has none).
    """

    layers: tuple[str, ...]

    def __call__(self, net: GraphNet) -> Iterator[tuple[Key, torch.Tensor]]:
        index = {path: i for i, path in enumerate(self.layers)}
        path_of = {node.name: node.path for node in net.graph.nodes}
        acts: dict[str, list[str]] = {}
        for node in net.graph.nodes:
            if node.path in index and node.kind == "act":
                acts.setdefault(node.path, []).append(str(node.attrs.get("act")))
        for (name, pname, shape), tensor in node_tensors(net):
            path = path_of.get(name)
            if path is None or path not in index:
                continue
            act = "+".join(acts.get(path, [])) or "none"
            local = name[len(path):].lstrip("/") or "out"
            yield (f"{index[path]}.A_{act}", f"{local}.{pname}", shape), tensor


class BankState:
    """A bank's tensors by key (CPU), as they travel with a trial's job or back with its outcome.

    Read-only by convention (see the module doc). Pickled (to a worker process, a Ray task)
    as one ``torch.save`` blob: the process pool's pickler would otherwise move every tensor to
    shared memory, holding one file descriptor each.
    """

    __slots__ = ("tensors",)

    def __init__(self, tensors: Mapping[Key, torch.Tensor] | None = None) -> None:
        self.tensors: dict[Key, torch.Tensor] = dict(tensors or {})

    def __len__(self) -> int:
        return len(self.tensors)

    def __reduce__(self) -> tuple[Callable[[bytes], BankState], tuple[bytes]]:
        buffer = io.BytesIO()
        torch.save({_encode(k): v for k, v in self.tensors.items()}, buffer)
        return _unpickle_state, (buffer.getvalue(),)


def _unpickle_state(blob: bytes) -> BankState:
    state = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    return BankState({_decode(k): v for k, v in state.items()})


class WeightBank:
    """Shared weights under the keys of its ``scheme`` (default :func:`node_tensors`); see the module docstring."""

    def __init__(self, scheme: Scheme | None = None) -> None:
        self._store: dict[Key, torch.Tensor] = {}
        self._written: dict[Key, torch.Tensor] = {}
        self.scheme: Scheme = scheme or node_tensors

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, key: object) -> bool:
        return key in self._store

    def keys(self) -> list[Key]:
        return list(self._store)

    def get(self, key: Key) -> torch.Tensor | None:
        """The stored CPU tensor of ``key`` (``None`` when absent)."""
        return self._store.get(key)

    @torch.no_grad()
    def load_into(self, net: GraphNet) -> int:
        """Copy every stored tensor whose key the net has into it; returns how many."""
        count = 0
        for key, tensor in self.scheme(net):
            stored = self._store.get(key)
            if stored is None or stored.dtype != tensor.dtype:
                continue
            tensor.copy_(stored)
            count += 1
        log.debug("weight bank: %d of %d stored tensors loaded", count, len(self))
        return count

    @torch.no_grad()
    def store_from(self, net: GraphNet) -> int:
        """Save (CPU copies of) every node tensor of the net, replacing older ones; returns how many."""
        count = 0
        for key, tensor in self.scheme(net):
            self._store[key] = self._written[key] = tensor.detach().to("cpu", copy=True)
            count += 1
        return count

    def snapshot(self) -> BankState:
        """The bank as it is now (its tensors, not copies: the bank never changes them in place)."""
        return BankState(self._store)

    def fork(self, state: BankState | None = None) -> WeightBank:
        """A bank with this one's scheme holding ``state``'s tensors (a trial's bank), nothing written yet."""
        bank = WeightBank(self.scheme)
        bank._store = dict(state.tensors) if state is not None else {}
        return bank

    def written(self) -> BankState:
        """The tensors :meth:`store_from` stored into this bank (the latest per key)."""
        return BankState(self._written)

    def update(self, state: BankState) -> int:
        """Add ``state``'s tensors, replacing those of the same keys (a trial's :meth:`written`); how many."""
        self._store.update(state.tensors)
        return len(state)

    def state(self) -> dict[str, torch.Tensor]:
        """A flat ``{"node|name|shape": tensor}`` dict (what :meth:`save` writes)."""
        return {_encode(k): v for k, v in self._store.items()}

    def save(self, path: str | Path) -> None:
        """Write the bank atomically (a temporary file renamed over ``path``)."""
        atomic_write(path, partial(torch.save, self.state()))

    @classmethod
    def load(cls, path: str | Path, scheme: Scheme | None = None) -> WeightBank:
        """A bank read back from :meth:`save`'s file (``weights_only=True``), with ``scheme``."""
        bank = cls(scheme)
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
        bank._store = {_decode(k): v for k, v in state.items()}
        return bank

    def __repr__(self) -> str:
        return f"WeightBank({len(self)} tensors)"


def _encode(key: Key) -> str:
    node, name, shape = key
    return f"{node}|{name}|{','.join(map(str, shape))}"


def _decode(text: str) -> Key:
    node, name, shape = text.rsplit("|", 2)
    return node, name, tuple(int(s) for s in shape.split(",") if s)

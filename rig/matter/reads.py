"""The short way of an attribute read through the CHIP wheel: a real ReadRequest answered by a ReportData.

Its ``ReadAttribute`` looks the node's session up twice, frees that lookup again and blocks the event loop while
the request is handed over, and decodes every value with ``dacite``. Here the request goes to the stack's thread
without waiting (:class:`_ReadTransaction`), the event loop wakes once, at the report's end, and values are decoded
on the loop's thread (:func:`decode_attribute`), decoded scalars remembered by their TLV bytes. Used by
:class:`rig.matter.controller.Node`.
"""

from __future__ import annotations

import asyncio
import ctypes
import enum
from collections.abc import Sequence
from typing import Any

import chip.interaction_model as im
import chip.native
from chip.clusters import Attribute as ClusterAttribute
from chip.clusters.Types import Nullable
from chip.tlv import TLVReader

AttributeKey = tuple[int, int, int]
"""(endpoint, cluster id, attribute id) of a concrete attribute path."""

_DECODED: dict[tuple[Any, bytes], Any] = {}
_DECODED_MAX = 4096
_IMMUTABLE = (int, float, str, bytes, enum.Enum, type(None), Nullable)
_PATHS: dict[AttributeKey, bytes] = {}
_READ_PARAMS: list[bytes] = []


def _path_struct(key: AttributeKey) -> bytes:
    """The AttributePathIB the native read takes, built once per path."""
    built = _PATHS.get(key)
    if built is None:
        path = im.AttributePathIBstruct.parse(b"\xff" * im.AttributePathIBstruct.sizeof())
        path.EndpointId, path.ClusterId, path.AttributeId = key
        built = _PATHS[key] = im.AttributePathIBstruct.build(path)
    return built


def _read_params() -> bytes:
    """The native read's parameters: a read (no subscription), fabric-filtered, as ``ReadAttribute``'s default."""
    if not _READ_PARAMS:
        params = ClusterAttribute._ReadParams.parse(b"\x00" * ClusterAttribute._ReadParams.sizeof())
        params.IsFabricFiltered = True
        _READ_PARAMS.append(ClusterAttribute._ReadParams.build(params))
    return _READ_PARAMS[0]


def decode_attribute(attribute: Any, status: int, tlv: bytes) -> Any:
    """The value of ``attribute`` as ``ReadAttribute`` gives it: the cluster object's type, or a ValueDecodeFailure
    (an error status for the path, or TLV that does not decode). Scalars are remembered by their TLV bytes."""
    if status != 0:
        return ClusterAttribute.ValueDecodeFailure(None, im.InteractionModelError(im.Status(status)))
    key = (attribute, tlv)
    known = _DECODED.get(key, _DECODED)
    if known is not _DECODED:
        return known
    raw = TLVReader(tlv).get().get("Any", {})
    try:
        value = attribute.FromTagDictOrRawValue(raw)
    except Exception as exc:  # what ReadAttribute reports as a decode failure
        return ClusterAttribute.ValueDecodeFailure(raw, exc)
    if isinstance(value, _IMMUTABLE) and len(_DECODED) < _DECODED_MAX:
        _DECODED[key] = value
    return value


class _ReadTransaction(ClusterAttribute.AsyncReadTransaction):  # type: ignore[misc]
    """One read: the stack's callbacks keep each path's status and TLV as they come (decoded later, on the loop's
    thread), and a request the stack refuses completes the read with that error."""

    def __init__(self, future: asyncio.Future[Any], loop: asyncio.AbstractEventLoop, ctrl: Any) -> None:
        super().__init__(future, loop, ctrl, False)
        self.values: dict[AttributeKey, tuple[int, bytes]] = {}
        self.refused: Any = None

    def handleAttributeData(self, path: Any, dataVersion: int, status: int, data: bytes) -> None:  # noqa: N802, N803
        self.values[(path.EndpointId, path.ClusterId, path.AttributeId)] = (status, data)

    def send(self, device: Any, keys: Sequence[AttributeKey]) -> None:
        """On the stack's thread: hand the ReadRequest to the stack."""
        structs = [_path_struct(k) for k in keys]
        paths = (ctypes.c_void_p * len(structs))(*[ctypes.cast(ctypes.c_char_p(b), ctypes.c_void_p) for b in structs])
        client = ctypes.POINTER(ctypes.c_void_p)()
        err = chip.native.GetLibraryHandle().pychip_ReadClient_Read(
            ctypes.py_object(self),
            ctypes.byref(client),
            device.deviceProxy,
            ctypes.c_char_p(_read_params()),
            paths,
            ctypes.c_size_t(len(structs)),
            None,
            ctypes.c_size_t(0),
            None,
            ctypes.c_size_t(0),
            ctypes.POINTER(ctypes.c_ulonglong)(),
        )
        if not err.is_success:  # nothing was sent and no callback will come: complete the read here
            self.refused = err
            self.handleError(err)
            self.handleDone()

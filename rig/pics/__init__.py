"""PICS: reading the CSA XML and KEY=1|0 text (:mod:`.reading`), deriving from and comparing with a live DUT
(:mod:`.derive`), writing both forms (:mod:`.writing`). Never imports ``chip``."""

from __future__ import annotations

from rig.pics.derive import DutElements, contradictions, derive_pics, inferred_events, pics_of
from rig.pics.reading import (
    EEVSE,
    EEVSE_CLUSTER_ID,
    KNOWN_EEVSE,
    Pics,
    accepted_command_code,
    attribute_code,
    event_code,
    feature_code,
    generated_command_code,
    key_problem,
    load_pics,
    normalize_key,
)
from rig.pics.writing import write_pics_text, write_pics_xml

__all__ = [
    "EEVSE",
    "EEVSE_CLUSTER_ID",
    "KNOWN_EEVSE",
    "DutElements",
    "Pics",
    "accepted_command_code",
    "attribute_code",
    "contradictions",
    "derive_pics",
    "event_code",
    "feature_code",
    "generated_command_code",
    "inferred_events",
    "key_problem",
    "load_pics",
    "normalize_key",
    "pics_of",
    "write_pics_text",
    "write_pics_xml",
]

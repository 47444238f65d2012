"""Cluster specifications as data: parse the spec XML, evaluate conformance, generate conformance checks.

    cluster = energy_evse()  # spec/EnergyEVSE.xml, parsed once; parse_cluster(path) for any other cluster XML
    ctx = context(cluster, feature_map, attributes=attribute_list, accepted=accepted_command_list)
    findings = check_list(cluster, "attribute", attribute_list, ctx)

Works for any cluster XML of the data-model format; ``tests/spec`` proves it on a second, made-up cluster.
"""

from rig.spec.checks import (
    CURRENT,
    ListFindings,
    ValueSpec,
    WriteCase,
    check_list,
    check_value,
    context,
    feature_problems,
    value_spec,
    write_cases,
)
from rig.spec.conformance import Context, Verdict, evaluate
from rig.spec.eevse import ENERGY_EVSE_XML, energy_evse
from rig.spec.model import Cluster
from rig.spec.parser import SpecError, parse_cluster

__all__ = [
    "CURRENT",
    "ENERGY_EVSE_XML",
    "Cluster",
    "Context",
    "ListFindings",
    "SpecError",
    "ValueSpec",
    "Verdict",
    "WriteCase",
    "check_list",
    "check_value",
    "context",
    "energy_evse",
    "evaluate",
    "feature_problems",
    "parse_cluster",
    "value_spec",
    "write_cases",
]

"""The Energy EVSE cluster (0x0099) as ``spec/EnergyEVSE.xml`` states it, parsed once.

The one source of the cluster's features, attributes, commands and events (ids, names, conformance, PICS code) for
the rest of the rig: the PICS tables (:mod:`rig.pics.reading`), the generated conformance checks and the suites.
"""

from __future__ import annotations

import functools

from rig import PROJECT_ROOT
from rig.spec.model import Cluster
from rig.spec.parser import SpecError, parse_cluster

ENERGY_EVSE_XML = PROJECT_ROOT / "spec" / "EnergyEVSE.xml"
"""The Energy EVSE cluster specification (revision 3) in the data-model XML format."""


@functools.cache
def energy_evse() -> Cluster:
    """Return the Energy EVSE cluster parsed from :data:`ENERGY_EVSE_XML` (parsed on the first call only).

    Raises:
        SpecError: the file is missing or malformed, or it gives the cluster no PICS code.
    """
    cluster = parse_cluster(ENERGY_EVSE_XML)
    if not cluster.pics_code:
        raise SpecError(f"{ENERGY_EVSE_XML}: <classification> gives the cluster no picsCode")
    return cluster

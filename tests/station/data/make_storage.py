"""Make a fabric store with the real CHIP wheel, and write down what the wheel itself says about it.

    python tests/station/data/make_storage.py STORE FACTS [--ca-index N] [--fabric-id N]

STORE is the wheel's ``chip-storage.json`` (a new root CA, one fabric admin, controller node 112233); FACTS is a JSON
object of the wheel's own view: the root public key (``GetRootPublicKeyBytesInternal``) and the compressed fabric id
(``GetCompressedFabricId``). Run as root: outside the rig's sandbox the script re-runs itself inside one (a private
mount namespace), because the wheel also writes ``/data/chip_*.ini`` and ``/tmp/chip_kvs``.

The committed ``chip-storage*.json`` files were made by this script: they hold throwaway test keys, nothing else.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _make(store: Path, facts: Path, ca_index: int, fabric_id: int) -> None:
    import chip.CertificateAuthority
    import chip.ChipStack
    import chip.native

    chip.native.Init()
    stack = chip.ChipStack.ChipStack(persistentStoragePath=str(store))
    manager = chip.CertificateAuthority.CertificateAuthorityManager(stack)
    manager.LoadAuthoritiesFromStorage()
    ca = manager.NewCertificateAuthority(caIndex=ca_index)
    admin = ca.NewFabricAdmin(vendorId=0xFFF1, fabricId=fabric_id)
    ctrl = admin.NewController(nodeId=112233)
    found = {
        "ca_index": ca_index,
        "fabric_id": fabric_id,
        "vendor_id": 0xFFF1,
        "controller_node_id": 112233,
        "root_public_key": bytes(ctrl.GetRootPublicKeyBytesInternal()).hex(),
        "compressed_fabric_id": f"{ctrl.GetCompressedFabricId():016X}",
    }
    ctrl.Shutdown()
    manager.Shutdown()
    stack.Shutdown()
    facts.write_text(json.dumps(found, indent=2) + "\n")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("store", type=Path)
    p.add_argument("facts", type=Path)
    p.add_argument("--ca-index", type=int, default=1)
    p.add_argument("--fabric-id", type=int, default=1)
    args = p.parse_args()
    store, facts = args.store.resolve(), args.facts.resolve()
    from rig import sandbox

    if sandbox.current() is None:
        with sandbox.Sandbox(sandbox.new_run_id(), with_netns=False, visible=[store.parent, facts.parent]) as box:
            argv = [sys.executable, str(Path(__file__).resolve()), str(store), str(facts)]
            return box.run([*argv, "--ca-index", str(args.ca_index), "--fabric-id", str(args.fabric_id)])
    _make(store, facts, args.ca_index, args.fabric_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())

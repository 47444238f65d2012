#!/usr/bin/env node
// An OTA Provider node (Matter Core specification, section 11.20 OTA Software Update) serving one OTA image file
// over BDX, for `rig firmware install`: matter.js's OtaSoftwareUpdateProviderServer on the root endpoint, offering the
// image to a requestor of the image's vendor and product id running an older software version.
//
// Configuration: OTA_PROVIDER_CONFIG=/path/to/config.json with storagePath, port, passcode, discriminator, image (the
// OTA file), and optionally interface, logLevel and certification (the paths of a DAC key, DAC and PAI, as the
// virtual EVSE's config takes them: the station's own chain, so a controller trusting only its lab's PAAs and the
// station's commissions it; absent: the matter.js test chain). stdout carries JSON lines only: first {"event":"ready"}, then
// {"event":"query"|"progress"|"transferred"|"apply"|"applied", ...} as the requestor goes; matter.js logs go to stderr. SIGTERM/SIGINT stop it
// (exit 0). The node never prints its setup codes.
import { Console } from "node:console";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

globalThis.console = new Console({ stdout: process.stderr, stderr: process.stderr });
const say = obj => process.stdout.write(`${JSON.stringify(obj, (k, v) => (typeof v === "bigint" ? Number(v) : v))}\n`);

let cfg;
try {
    cfg = JSON.parse(readFileSync(process.env.OTA_PROVIDER_CONFIG ?? "", "utf8"));
    for (const key of ["storagePath", "port", "passcode", "discriminator", "image"]) {
        if (cfg[key] === undefined) throw new Error(`${key} is missing`);
    }
} catch (e) {
    process.stderr.write(`ota-provider: config (OTA_PROVIDER_CONFIG): ${e.message}\n`);
    process.exit(2);
}
process.env.MATTER_STORAGE_PATH = resolve(cfg.storagePath);
process.env.MATTER_LOG_LEVEL = cfg.logLevel ?? "notice";
process.env.MATTER_LOG_FORMAT = process.env.MATTER_LOG_FORMAT ?? "plain";
process.env.MATTER_RUNTIME_SIGNALS = "false";
if (cfg.interface) process.env.MATTER_MDNS_NETWORKINTERFACE = cfg.interface;

const { CommissioningServer, Crypto, Environment, ServerNode, SoftwareUpdateManager, VendorId } = await import("@matter/main");
const { OtaSoftwareUpdateProviderServer } = await import("@matter/main/behaviors/ota-software-update-provider");
const { BdxProtocol, CertificationDeclaration, DeviceCertification, OtaImageReader, PersistedFileDesignator } = await import("@matter/main/protocol");
const { loadCertification } = await import("./config.js");

const crypto = Environment.default.get(Crypto);
const imageBytes = readFileSync(cfg.image);
let header;
try {
    header = await OtaImageReader.file(new Blob([imageBytes]).stream().getReader(), crypto, imageBytes.length);
} catch (e) {
    process.stderr.write(`ota-provider: ${cfg.image} is not a valid OTA image: ${e.message}\n`);
    process.exit(2);
}
const FILE_NAME = "rig-image.ota";

class RigOtaProviderServer extends OtaSoftwareUpdateProviderServer {
    /** The image, to a requestor of its vendor and product id whose running version is older (and applicable). */
    async checkUpdateAvailable(request, peerAddress) {
        const { vendorId, productId, softwareVersion } = request;
        const min = header.minApplicableSoftwareVersion ?? 0;
        const max = header.maxApplicableSoftwareVersion ?? 0xffffffff;
        const offered = vendorId === header.vendorId && productId === header.productId && softwareVersion < header.softwareVersion && softwareVersion >= min && softwareVersion <= max;
        say({ event: "query", node: peerAddress.nodeId, vendorId, productId, softwareVersion, offered });
        if (!offered) return undefined;
        const fileDesignator = new PersistedFileDesignator(FILE_NAME, this.updateStorage);
        if (!(await fileDesignator.exists())) await fileDesignator.writeFromStream(new Blob([imageBytes]).stream());
        // The operator's command is the consent: recorded as matter.js records one (the ApplyUpdateRequest checks it).
        const manager = this.agent.get(SoftwareUpdateManager);
        manager.internal.consents = [
            ...manager.internal.consents,
            { vendorId: VendorId(vendorId), productId, targetSoftwareVersion: header.softwareVersion, peerAddress },
        ];
        return {
            newSoftwareVersion: header.softwareVersion,
            newSoftwareVersionString: header.softwareVersionString,
            fileDesignator,
            consentRequired: false,
        };
    }

    /**
     * matter.js 0.17.9 writes the fabric's root node id (the commissioner's) as the BDX URI's source node; a provider
     * that is not the commissioner must name itself (Matter Core 11.20.6.5.3: bdx://<provider node id>/<file>), or
     * the requestor ignores the answer.
     */
    async queryImage(request) {
        watchTransfers(this.env.get(BdxProtocol));
        const response = await super.queryImage(request);
        const own = this.context.session?.associatedFabric?.nodeId;
        if (typeof response.imageUri === "string" && response.imageUri.startsWith("bdx://") && own !== undefined) {
            const hex = BigInt(own).toString(16).toUpperCase().padStart(16, "0");
            response.imageUri = response.imageUri.replace(/^bdx:\/\/[0-9A-F]{16}\//, `bdx://${hex}/`);
        }
        return response;
    }

    async applyUpdateRequest(request) {
        const response = await super.applyUpdateRequest(request);
        say({ event: "apply", newVersion: request.newVersion, action: response.action });
        return response;
    }

    notifyUpdateApplied(request) {
        say({ event: "applied", softwareVersion: request.softwareVersion });
        return super.notifyUpdateApplied(request);
    }
}

/** The BDX transfers' progress as {"event":"progress"} lines (at most one per 2 % and the last), once per process. */
let watching = false;
function watchTransfers(bdx) {
    if (watching) return;
    watching = true;
    bdx.sessionStarted.on(session => {
        let shown = -1;
        session.progressInfo.on((bytes, total) => {
            const percent = total ? Math.floor((bytes * 100) / total) : null;
            if (percent === null || percent >= shown + 2 || bytes === total) {
                shown = percent ?? shown;
                say({ event: "progress", bytes, total: total ?? null, percent });
            }
        });
        session.progressFinished.on(bytes => say({ event: "transferred", bytes }));
    });
}

class QuietCommissioningServer extends CommissioningServer {
    initiateCommissioning() {
        console.error(`ota-provider: uncommissioned, discriminator ${cfg.discriminator} (setup codes as configured, not logged)`);
    }
}

let node;
let stopping = false;
async function stop() {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), 1800).unref();
    try {
        await node?.close();
    } catch (e) {
        process.stderr.write(`ota-provider: shutdown error ${e?.stack ?? e}\n`);
    }
    process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

const PRODUCT = { name: "rig OTA provider", deviceType: 0x0014, vendorId: VendorId(0xfff1), productId: 0x8001 };

/** The configured chain with a Certification Declaration made as the virtual EVSE makes its own (device.js). */
async function certification() {
    if (cfg.certification === undefined || cfg.certification === null) return undefined;
    const chain = {
        ...loadCertification(cfg.certification),
        declaration: await CertificationDeclaration.generate(crypto, PRODUCT.vendorId, PRODUCT.productId),
    };
    await new DeviceCertification(crypto, chain, PRODUCT).construction;
    return chain;
}

try {
    const chain = await certification();
    node = await ServerNode.create(ServerNode.RootEndpoint.with(QuietCommissioningServer, RigOtaProviderServer), {
        id: "ota-provider",
        network: { port: cfg.port },
        commissioning: { passcode: cfg.passcode, discriminator: cfg.discriminator },
        productDescription: PRODUCT,
        ...(chain ? { operationalCredentials: { certification: chain } } : {}),
        basicInformation: {
            vendorName: "rig",
            vendorId: VendorId(0xfff1),
            productName: "rig OTA provider",
            productId: 0x8001,
            nodeLabel: "rig OTA provider",
            serialNumber: "RIG-OTA-PROVIDER",
            softwareVersion: 1,
            softwareVersionString: "1.0.0",
            hardwareVersion: 1,
            hardwareVersionString: "1.0",
        },
    });
    await node.start();
} catch (e) {
    process.stderr.write(`ota-provider: startup failed: ${e?.stack ?? e}\n`);
    process.exit(1);
}
say({
    event: "ready",
    port: cfg.port,
    commissioned: !!node.state.commissioning.commissioned,
    image: { vendorId: header.vendorId, productId: header.productId, softwareVersion: header.softwareVersion, softwareVersionString: header.softwareVersionString, size: imageBytes.length },
});

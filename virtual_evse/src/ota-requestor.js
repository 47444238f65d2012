// The virtual EVSE as an OTA Requestor (Matter Core specification, section 11.20 OTA Software Update): matter.js's
// OtaSoftwareUpdateRequestorServer (its QueryImage, BDX download and ApplyUpdateRequest), with what a firmware
// adds: the downloaded image checked against this product (vendor id, product id, its payload a build this firmware
// can boot), the build written into the EVSE's storage, and a reboot into it.
import { Crypto, Seconds } from "@matter/main";
import { OtaSoftwareUpdateRequestorServer } from "@matter/main/behaviors/ota-software-update-requestor";
import { OtaImageError, OtaImageReader } from "@matter/main/protocol";
import { OtaSoftwareUpdateRequestor } from "@matter/main/clusters/ota-software-update-requestor";
import { installBuild, parseBuild } from "./build.js";

/** The payload of the OTA image in `fileDesignator` (its header and digest checked by matter.js's reader). */
async function payloadOf(fileDesignator, crypto) {
    const blob = await fileDesignator.openBlob();
    const chunks = [];
    await OtaImageReader.extractPayload(
        blob.stream().getReader(),
        new WritableStream({ write: chunk => void chunks.push(Buffer.from(chunk)) }).getWriter(),
        crypto,
        blob.size,
    );
    return Buffer.concat(chunks);
}

export function createOtaRequestor(rt) {
    const { cfg } = rt;

    return class VevseOtaRequestorServer extends OtaSoftwareUpdateRequestorServer {
        /**
         * An announcement is followed by a query of that provider one second later, whatever its reason: this
         * firmware's choice (matter.js waits up to 10 minutes after an UpdateAvailable announcement, a daily query
         * after a simple one). The announcement itself is handled by matter.js.
         */
        async announceOtaProvider(request) {
            const interval = this.state.updateQueryInterval;
            this.internal.updateQueryTimer?.stop();
            this.internal.updateQueryTimer = undefined;
            this.state.updateQueryInterval = Seconds(1);
            try {
                await super.announceOtaProvider({
                    ...request,
                    announcementReason: OtaSoftwareUpdateRequestor.AnnouncementReason.SimpleAnnouncement,
                });
            } finally {
                this.state.updateQueryInterval = interval;
            }
            rt.log({ event: "ota-announced", provider: Number(request.providerNodeId), reason: request.announcementReason });
        }

        /** matter.js's checks (format, digest, version), then this product's: vendor id, product id, a bootable build. */
        async validateUpdateFile(newSoftwareVersion) {
            // matter.js 0.17.9's download location (a PersistedFileDesignator, kept for the process's life) caches the
            // Blob it opened first: after a staged image was found stale, deleted and downloaded again, that Blob no
            // longer matches the file ("The blob could not be read"). A fresh designator opens the file as it is now.
            this.internal.downloadLocation = undefined;
            const header = await super.validateUpdateFile(newSoftwareVersion);
            const refuse = why => {
                rt.log({ event: "ota-refused", reason: why });
                throw new OtaImageError(why);
            };
            if (header.vendorId !== cfg.vendorId) refuse(`vendor id 0x${header.vendorId.toString(16)} is not this EVSE's`);
            if (header.productId !== cfg.productId) refuse(`product id 0x${header.productId.toString(16)} is not this EVSE's`);
            let build;
            try {
                build = parseBuild(await payloadOf(await this.getDownloadLocation(), this.env.get(Crypto)));
            } catch (e) {
                refuse(e.message);
            }
            if (build.softwareVersion !== header.softwareVersion) {
                refuse(`payload.softwareVersion ${build.softwareVersion} differs from the header's ${header.softwareVersion}`);
            }
            return header;
        }

        /** Write the build into the storage and reboot into it once the Applying state is stored. */
        async applyUpdate(newSoftwareVersion, fileDesignator) {
            const build = parseBuild(await payloadOf(fileDesignator, this.env.get(Crypto)));
            installBuild(cfg.storagePath, build);
            // the staged image is consumed: a later query must not find it (and refuse it as not newer) first
            await fileDesignator.delete().catch(e => process.stderr.write(`vevse: staged OTA image not deleted: ${e.message}\n`));
            rt.log({ event: "ota-installed", softwareVersion: newSoftwareVersion, softwareVersionString: build.softwareVersionString, defects: build.defects });
            // matter.js stores the Applying state (and what to report after the reboot) when this command's transaction ends
            setTimeout(() => rt.reboot?.("ota"), 250);
        }
    };
}

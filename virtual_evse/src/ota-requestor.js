// The virtual EVSE as an OTA Requestor (Matter Core specification, section 11.20 OTA Software Update): matter.js's
// OtaSoftwareUpdateRequestorServer (its QueryImage, BDX download and ApplyUpdateRequest), with what a firmware
// adds: the downloaded image checked against this product (vendor id, product id, its payload a build this firmware
// can boot on this board), the build written into the EVSE's storage, and a reboot into it.
//
// A refused image is reported as a real requestor does (Matter Core 11.20.7.7): a DownloadError event whose
// PlatformCode (vendor-specific) says why (REFUSED below), then matter.js's StateTransition Downloading -> Idle with
// reason Failure. Defect ota-never-applies: the firmware asks to apply the image and is told Proceed, but never
// reboots into it (its OTA Requestor stays in Applying).
import { Crypto, Seconds } from "@matter/main";
import { OtaSoftwareUpdateRequestorServer } from "@matter/main/behaviors/ota-software-update-requestor";
import { OtaImageError, OtaImageReader } from "@matter/main/protocol";
import { OtaSoftwareUpdateRequestor } from "@matter/main/clusters/ota-software-update-requestor";
import { installBuild, parseBuild } from "./build.js";

/** DownloadError PlatformCode of each refusal of a downloaded image (this firmware's own codes). */
export const REFUSED = { vendorId: 1, productId: 2, payload: 3, softwareVersion: 4, hardwareVersion: 5 };
export const NEVER_APPLIES_DEFECT = "ota-never-applies";

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
            const location = await this.getDownloadLocation();
            const refuse = async (code, why) => {
                rt.log({ event: "ota-refused", softwareVersion: header.softwareVersion, platformCode: code, reason: why });
                if (newSoftwareVersion !== undefined) {
                    // a download just ended (not a staged image found at a query): say so as matter.js does for its
                    // own checks, with this firmware's code (matter.js emits it only for its own errors)
                    const blob = await location.openBlob().catch(() => undefined);
                    this.events.downloadError.emit(
                        {
                            softwareVersion: newSoftwareVersion,
                            bytesDownloaded: blob?.size ?? 0,
                            progressPercent: this.state.updateStateProgress,
                            platformCode: code,
                        },
                        this.context,
                    );
                }
                throw new OtaImageError(why);
            };
            if (header.vendorId !== cfg.vendorId) await refuse(REFUSED.vendorId, `vendor id 0x${header.vendorId.toString(16)} is not this EVSE's`);
            if (header.productId !== cfg.productId) await refuse(REFUSED.productId, `product id 0x${header.productId.toString(16)} is not this EVSE's`);
            let build;
            try {
                build = parseBuild(await payloadOf(location, this.env.get(Crypto)));
            } catch (e) {
                await refuse(REFUSED.payload, e.message);
            }
            if (build.softwareVersion !== header.softwareVersion) {
                await refuse(REFUSED.softwareVersion, `payload.softwareVersion ${build.softwareVersion} differs from the header's ${header.softwareVersion}`);
            }
            if (build.hardwareVersion !== undefined && build.hardwareVersion !== cfg.hardwareVersion) {
                await refuse(REFUSED.hardwareVersion, `the build is for hardware version ${build.hardwareVersion}, this EVSE's board is ${cfg.hardwareVersion}`);
            }
            return header;
        }

        /** Write the build into the storage and reboot into it once the Applying state is stored. */
        async applyUpdate(newSoftwareVersion, fileDesignator) {
            if (cfg.defectSet.has(NEVER_APPLIES_DEFECT)) {
                rt.log({ event: "ota-apply-stalled", softwareVersion: newSoftwareVersion, defect: NEVER_APPLIES_DEFECT });
                return; // the staged image stays, the requestor stays in Applying, the old build keeps running
            }
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

// Node composition: root endpoint (Basic Information, General Diagnostics with test event triggers) and endpoint 1
// (EVSE 0x050C + Device Energy Management 0x050D + Electrical Sensor 0x0510 device types).
import { CommissioningServer, Crypto, Endpoint, Environment, ServerNode, VendorId, DeviceTypeId } from "@matter/main";
// per-behavior subpaths: importing "@matter/main/behaviors" loads every cluster (seconds of startup)
import { DescriptorServer } from "@matter/main/behaviors/descriptor";
import { DeviceEnergyManagementServer } from "@matter/main/behaviors/device-energy-management";
import { ElectricalEnergyMeasurementServer } from "@matter/main/behaviors/electrical-energy-measurement";
import { ElectricalPowerMeasurementServer } from "@matter/main/behaviors/electrical-power-measurement";
import { EnergyEvseModeServer } from "@matter/main/behaviors/energy-evse-mode";
import { GeneralDiagnosticsServer } from "@matter/main/behaviors/general-diagnostics";
import { PowerTopologyServer } from "@matter/main/behaviors/power-topology";
import { EnergyEvseDevice } from "@matter/main/devices/energy-evse";
import { CertificationDeclaration, DeviceCertification } from "@matter/main/protocol";
import { Status, StatusResponseError } from "@matter/main/types";
import { ConfigError } from "./config.js";
import { createEvseServer } from "./evse-server.js";
import { createOtaRequestor } from "./ota-requestor.js";
import { applyTrigger, resolveTrigger } from "./triggers.js";

export const MODE_TAGS = { Manual: 0x4000, TimeOfUse: 0x4001, SolarCharging: 0x4002 };

/**
 * The custom attestation chain of the config (`certification`): the DAC key, DAC and PAI read by config.js, and a
 * Certification Declaration for the configured vendor and product id made as matter.js makes its default one
 * (`CertificationDeclaration.generate`: certification type "development and test", signed with the CSA's test CD
 * key of the Matter core specification, which commissioners accept for development CDs). The DAC and PAI VID/PID
 * are checked against the product here, as matter.js checks them at the first attestation request.
 */
async function customCertification(cfg, product) {
    const crypto = Environment.default.get(Crypto);
    const certification = {
        ...cfg.certificationFiles,
        declaration: await CertificationDeclaration.generate(crypto, product.vendorId, product.productId),
    };
    try {
        await new DeviceCertification(crypto, certification, product).construction;
    } catch (e) {
        let cause = e;
        while (cause?.cause) cause = cause.cause; // matter.js wraps the reason in its construction error
        throw new ConfigError(`certification: ${cause?.message ?? e}`);
    }
    return certification;
}

/** The Node Operational Credentials options of the config (fabric table size, attestation chain), if any. */
async function operationalCredentials(cfg, product) {
    const options = {};
    if (cfg.supportedFabrics !== undefined) options.supportedFabrics = cfg.supportedFabrics;
    if (cfg.certificationFiles) options.certification = await customCertification(cfg, product);
    return Object.keys(options).length ? options : undefined;
}

export async function createNode(rt, id = "vevse") {
    const { cfg } = rt;

    class VevseGeneralDiagnosticsServer extends GeneralDiagnosticsServer {
        async testEventTrigger({ eventTrigger, enableKey }) {
            const key = Buffer.from(enableKey ?? []);
            if (key.length !== cfg.enableKeyBytes.length || key.every(b => b === 0) || !key.equals(Buffer.from(cfg.enableKeyBytes))) {
                throw new StatusResponseError("Invalid test enable key", Status.ConstraintError);
            }
            if (!this.state.testEventTriggersEnabled) {
                throw new StatusResponseError("Test event triggers are disabled", Status.ConstraintError);
            }
            const name = resolveTrigger(eventTrigger, 1);
            if (!name) throw new StatusResponseError(`Unsupported test event trigger ${eventTrigger}`, Status.InvalidCommand);
            rt.log({ event: "trigger", name, code: `0x${BigInt(eventTrigger).toString(16).padStart(16, "0")}` });
            await rt.act((evse, agent) => applyTrigger(name, evse, rt, agent));
        }
    }

    class VevseDeviceEnergyManagementServer extends DeviceEnergyManagementServer.with("PowerForecastReporting") {
        async initialize() {
            (await this.agent.load(DescriptorServer)).addDeviceTypes("DeviceEnergyManagement");
        }
    }

    const EvseServer = createEvseServer(rt);
    rt.EvseServer = EvseServer;
    rt.ModeServer = EnergyEvseModeServer;
    rt.modeTags = MODE_TAGS;

    const productDescription = { name: cfg.productName, deviceType: DeviceTypeId(0x050c), vendorId: VendorId(cfg.vendorId), productId: cfg.productId };
    const credentials = await operationalCredentials(cfg, productDescription);
    // matter.js logs the passcode, the manual pairing code and the QR payload when the node is uncommissioned: they
    // are the device's secret (the rig keeps them out of its logs and run folders), so this one says less.
    class QuietCommissioningServer extends CommissioningServer {
        initiateCommissioning() {
            console.error(`vevse: uncommissioned, discriminator ${cfg.discriminator} (setup codes as configured, not logged)`);
        }
    }
    // The OTA Requestor (Matter Core 11.20): a build is installed over Matter OTA (see ota-requestor.js)
    const OtaRequestor = createOtaRequestor(rt);
    const root = ServerNode.RootEndpoint.with(VevseGeneralDiagnosticsServer, QuietCommissioningServer, OtaRequestor);
    const node = await ServerNode.create(root, {
        id,
        network: { port: cfg.port },
        commissioning: { passcode: cfg.passcode, discriminator: cfg.discriminator },
        productDescription,
        ...(credentials ? { operationalCredentials: credentials } : {}),
        basicInformation: {
            vendorName: cfg.vendorName,
            vendorId: VendorId(cfg.vendorId),
            nodeLabel: cfg.productName,
            productName: cfg.productName,
            productLabel: cfg.productName,
            productId: cfg.productId,
            serialNumber: cfg.serialNumber,
            uniqueId: `vevse-${cfg.serialNumber}`,
            softwareVersion: cfg.softwareVersion,
            softwareVersionString: cfg.softwareVersionString,
            hardwareVersion: cfg.hardwareVersion,
            hardwareVersionString: cfg.hardwareVersionString,
        },
        generalDiagnostics: { testEventTriggersEnabled: true, deviceTestEnableKey: cfg.enableKeyBytes },
    });

    const v2x = cfg.has("V2X");
    const evseState = {
        clusterRevision: 3, // matter.js 0.17.9 models revision 4; this device implements revision 3
        state: 0,
        supplyState: 0,
        faultState: 0,
        chargingEnabledUntil: 946684800,
        circuitCapacity: 0,
        minimumChargeCurrent: 6000,
        maximumChargeCurrent: 0,
        sessionId: null,
        sessionDuration: null,
        sessionEnergyCharged: null,
    };
    if (v2x) Object.assign(evseState, { dischargingEnabledUntil: 946684800, maximumDischargeCurrent: 0, sessionEnergyDischarged: null });
    if (cfg.optional.userMaximumChargeCurrent) evseState.userMaximumChargeCurrent = 0;
    if (cfg.optional.randomizationDelayWindow) evseState.randomizationDelayWindow = 600;
    if (cfg.has("PREF")) {
        Object.assign(evseState, { nextChargeStartTime: null, nextChargeTargetTime: null, nextChargeRequiredEnergy: null, nextChargeTargetSoC: null });
        if (cfg.optional.approximateEvEfficiency) evseState.approximateEvEfficiency = null;
    }
    if (cfg.has("SOC")) Object.assign(evseState, { stateOfCharge: null, batteryCapacity: null });
    if (cfg.has("PNC")) evseState.vehicleId = null;

    const maxPowerMw = Math.round((cfg.hardware.nominalMainsVoltage_mV / 1000) * cfg.hardware.maxHardwareChargeCurrent);
    const range = (min, max) => [{ rangeMin: min, rangeMax: max, fixedMax: 1000 }];
    const endpoint = new Endpoint(
        EnergyEvseDevice.with(
            EvseServer,
            EnergyEvseModeServer,
            VevseDeviceEnergyManagementServer,
            ElectricalPowerMeasurementServer.with("AlternatingCurrent"),
            ElectricalEnergyMeasurementServer.with("ImportedEnergy", "CumulativeEnergy"),
            PowerTopologyServer.with("NodeTopology"),
        ),
        {
            id: "evse",
            number: 1,
            energyEvse: evseState,
            energyEvseMode: {
                supportedModes: [
                    { label: "Manual", mode: 1, modeTags: [{ value: MODE_TAGS.Manual }] },
                    { label: "Time of Use", mode: 2, modeTags: [{ value: MODE_TAGS.TimeOfUse }] },
                    { label: "Solar", mode: 3, modeTags: [{ value: MODE_TAGS.SolarCharging }] },
                ],
                currentMode: 1,
            },
            deviceEnergyManagement: {
                esaType: 0, // EVSE
                esaCanGenerate: v2x,
                esaState: 1, // Online
                absMinPower: v2x ? -maxPowerMw : 0,
                absMaxPower: maxPowerMw,
                forecast: null,
            },
            electricalPowerMeasurement: {
                powerMode: 2, // AC
                numberOfMeasurementTypes: 3,
                accuracy: [
                    { measurementType: 5, measured: true, minMeasuredValue: -maxPowerMw, maxMeasuredValue: maxPowerMw, accuracyRanges: range(-maxPowerMw, maxPowerMw) },
                    { measurementType: 1, measured: true, minMeasuredValue: 0, maxMeasuredValue: 300000, accuracyRanges: range(0, 300000) },
                    { measurementType: 2, measured: true, minMeasuredValue: -80000, maxMeasuredValue: 80000, accuracyRanges: range(-80000, 80000) },
                ],
                activePower: 0,
                voltage: cfg.hardware.nominalMainsVoltage_mV,
                activeCurrent: 0,
            },
            electricalEnergyMeasurement: {
                accuracy: { measurementType: 14, measured: true, minMeasuredValue: 0, maxMeasuredValue: 2 ** 52, accuracyRanges: range(0, 2 ** 52) },
                cumulativeEnergyImported: { energy: 0 },
            },
        },
    );
    await node.add(endpoint);
    rt.endpoint = endpoint;

    const EPM = ElectricalPowerMeasurementServer.with("AlternatingCurrent");
    const EEM = ElectricalEnergyMeasurementServer.with("ImportedEnergy", "CumulativeEnergy");
    let lastEnergyReport = 0;
    rt.updateMeasurements = async () => {
        const powerMw = Math.round(rt.meter.powerMw);
        const mainsMv = Math.round(rt.fw.mainsMv);
        const currentMa = mainsMv > 0 ? Math.round((powerMw * 1000) / mainsMv) : 0;
        const energy = Math.round(rt.meterMwh());
        const now = Date.now();
        await endpoint.act("measurement", agent => {
            const epm = agent.get(EPM).state;
            if (epm.activePower !== powerMw) epm.activePower = powerMw;
            if (epm.voltage !== mainsMv) epm.voltage = mainsMv;
            if (epm.activeCurrent !== currentMa) epm.activeCurrent = currentMa;
            if (now - lastEnergyReport >= 10_000) {
                const eem = agent.get(EEM).state;
                if (Number(eem.cumulativeEnergyImported?.energy) !== energy) {
                    eem.cumulativeEnergyImported = { energy };
                    lastEnergyReport = now;
                }
            }
        });
    };
    return { node, endpoint };
}

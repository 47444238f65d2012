import { Console } from "node:console";
globalThis.console = new Console({ stdout: process.stderr, stderr: process.stderr });
process.env.MATTER_STORAGE_PATH="/tmp/vt/s9";
const { loadConfig } = await import("./src/config.js");
const { Store } = await import("./src/store.js");
const { createRuntime } = await import("./src/runtime.js");
const { createNode } = await import("./src/device.js");
const { TlvOfModel } = await import("@matter/main/types");
const cfg = loadConfig("/tmp/vt/c1.json");
const rt = createRuntime(cfg, new Store("/tmp/vt/s9"));
const { node, endpoint } = await createNode(rt);
const st = endpoint.stateOf(rt.EvseServer);
console.log("rev", st.clusterRevision, "schema rev", rt.EvseServer.schema.revision);
const ev = endpoint.eventsOf(rt.EvseServer); const names=[]; for (const k in ev) names.push(k); console.log(names.filter(k=>!k.includes("$")), typeof ev.rfid, typeof ev.evConnected);
const cmd = rt.EvseServer.schema.children.find(c=>c.name==="SetTargets");
const t = {targetTimeMinutesPastMidnight: 1, targetSoC: 100};
try { TlvOfModel(cmd).validate({chargingTargetSchedules:[{dayOfWeekForSequence:{saturday:true}, chargingTargets: Array(11).fill(t)}]}); console.log("valid"); } catch(e) { console.log("ERR", e.message.slice(0,80)); }
await node.close();

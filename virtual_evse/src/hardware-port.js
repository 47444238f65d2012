export class HardwarePort { constructor(){} async listen(){} async close(){} }

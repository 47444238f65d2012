"""Firmware builds installed on the DUT over Matter OTA (Matter Core specification, section 11.20 OTA Software Update):
the OTA image file (:mod:`rig.firmware.image`), the OTA Provider node the rig runs (:mod:`rig.firmware.provider`) and
the install itself (:mod:`rig.firmware.install`)."""

"""The edge gateway daemon: MQTT intake, pipeline, durable buffer, detectors, uplink.

May import ``firmware_protocol`` only; never ``cloud``.
"""

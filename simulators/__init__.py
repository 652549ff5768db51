"""Sensor fleet simulator: signals, faults, manifest, CSV replay and its ``iotgw sim`` group.

May import ``firmware_protocol`` only.
"""

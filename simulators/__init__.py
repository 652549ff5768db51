"""Sensor fleet simulator and the ``iotgw`` command-line entry point.

May import ``firmware_protocol`` only.
"""

"""The product as a whole: the ``iotgw`` command root, the demo, the embedded broker, process
supervision for our programs and the servers they talk to, and Prometheus text parsing.

May import every other package; nothing imports it except tests, benchmarks and itself.
"""

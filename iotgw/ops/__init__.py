"""Operating the cloud from the command line, like Alertmanager's ``amtool``: ``iotgw alerts``
and ``iotgw rules``. A client of the cloud's HTTP API only: nothing here imports ``cloud``."""

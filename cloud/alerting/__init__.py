"""The alerting side of the cloud: rules, alerts, silences, webhooks and pipeline health.

Layers, bottom to top (each imports only the layers below it):

- :mod:`cloud.alerting.core`: clock, database view, SQL helpers, errors, series identity;
- :mod:`cloud.alerting.monitors`: pipeline-health tables, the ingest recorder and the checks;
- :mod:`cloud.alerting.rules`: rule kinds, the rules table and the evaluation context;
- :mod:`cloud.alerting.alerts` (lifecycle, silences) and :mod:`cloud.alerting.webhooks`;
- :mod:`cloud.alerting.evaluator` and :mod:`cloud.alerting.service`: the wiring.

This module imports nothing, so importing any subpackage never drags in the rest.
"""

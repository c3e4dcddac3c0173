"""The floor every domain stands on: storage and the one write API, group commit, the outbox,
the durable MQTT queue, the audit log, GS1, signed codes, errors, ids, time, workers.

Domains import from here, from `edge.bus`, and from other domains' `contract` and `events`
modules only (tests/unit/test_domain_rule.py keeps that true).
"""

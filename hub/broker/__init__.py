"""The credential broker: the one component holding AWS permissions. See :mod:`hub.broker.service`."""

"""mallsense sync: the store-and-forward MQTT uplink (reads the outbox through ``edge.store``)."""

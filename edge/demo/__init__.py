"""The demo: simulated recordings of a small shop, a local broker, and the whole box."""

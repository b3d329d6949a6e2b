"""Wi-Fi probe requests: capture (live, replay), radiotap and 802.11 parsing."""

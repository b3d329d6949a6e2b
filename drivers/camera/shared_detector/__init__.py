"""One detector for all cameras: one onnxruntime session in one process, fed by every
camera process through shared memory (as Frigate shares its detectors).

A camera process keeps its decoder, motion gate, tracker and counters, and writes each
frame's model input into its shared-memory slot; the service runs the model and sends
back the boxes. Memory then grows by a decoder per camera, not by a model per camera.

- ``protocol``: the address, the messages and the slots;
- ``service``: the detector process;
- ``client``: the camera's ``Detector`` that talks to it (and waits while it restarts);
- ``supervisor``: the daemon's side: start, restart with a backoff, stop last.
"""

from drivers.camera.shared_detector.client import SharedDetectorClient
from drivers.camera.shared_detector.protocol import ServiceAddress, shareable
from drivers.camera.shared_detector.supervisor import DetectorHub, DetectorService

__all__ = [
    "DetectorHub",
    "DetectorService",
    "ServiceAddress",
    "SharedDetectorClient",
    "shareable",
]

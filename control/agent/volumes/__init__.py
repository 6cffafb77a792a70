"""Node-local volumes of the node agent: emptyDir, hostPath, configMap, secret, downwardAPI, projected, gitRepo."""

from pykube_control.agent.volumes.container_mounts import Mount, PodVolumes, PreparedVolume
from pykube_control.agent.volumes.errors import VolumeError
from pykube_control.agent.volumes.manager import VolumeManager

__all__ = ["Mount", "PodVolumes", "PreparedVolume", "VolumeError", "VolumeManager"]

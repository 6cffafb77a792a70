"""Images on a node without a registry: import tarballs, name them, pull by policy.

Images reach containerd three ways:

- ``import_archive`` loads an OCI image layout or docker-archive tarball
  (``docker save``, ``podman save``, image_build.py) with containerd's own
  ``ctr images import`` into the "k8s.io" namespace, where the CRI plugin
  looks. Writing our own importer over the content API would duplicate
  what ctr, which ships with containerd, already does.
- ``import_node_images``, which the agent calls at start, imports the
  sandbox image (``import_pause_image``) and then every ``*.tar`` in
  ``<data-dir>/images/`` (``import_images_dir``), so clusters work from
  files dropped there.
- ``ensure_image`` pulls through CRI from a registry the node can reach,
  following the container's imagePullPolicy.

Names must be fully qualified, or CRI cannot find an imported image: the
CRI plugin normalizes the name in a pod spec the way docker does, so
"myapp:1" means "docker.io/library/myapp:1". ctr keeps a name from an OCI
archive as written, so an import renames any unqualified name to
``localhost/<name>``, the prefix a pod spec must then use
(``image: localhost/myapp:1``). Names from docker archives are already
normalized to docker.io by ctr and keep their meaning.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from pykube_control.agent.image_build import PAUSE_IMAGE, build_pause_image
from pykube_control.cri.client import CRIClient

logger = logging.getLogger("pykube.agent.images")

CTR_NAMESPACE = "k8s.io"
"""containerd namespace of the CRI plugin's images and containers."""

CTR_TIMEOUT = 300.0
"""Seconds allowed for one ctr command. An import copies and unpacks every
layer, which for a large image takes tens of seconds on a slow disk."""

IMAGES_DIR = "images"
"""Folder of the data directory whose tarballs are imported at start."""

PULL_POLICIES = ("Always", "IfNotPresent", "Never")

_UNPACKING = re.compile(r"^unpacking (\S+) \(sha256:[0-9a-f]+\)")


class ImageError(Exception):
    """An image could not be imported, renamed or pulled."""


class ImageNeverPullError(ImageError):
    """The image is missing and imagePullPolicy is Never (the kubelet's ErrImageNeverPull)."""


def is_fully_qualified(name: str) -> bool:
    """Return whether ``name`` starts with a registry host ("localhost/", "quay.io/", "host:5000/").

    This is docker's rule for the first path component: it names a
    registry when it has a dot or a colon, or is "localhost".
    """
    first, slash, _ = name.partition("/")
    if not slash:
        return False
    return "." in first or ":" in first or first == "localhost"


def qualify(name: str) -> str:
    """Return ``name`` with "localhost/" in front unless it is already fully qualified."""
    return name if is_fully_qualified(name) else f"localhost/{name}"


def ctr_binary() -> str:
    """Return the path of ctr, or raise ImageError with how to install it."""
    path = shutil.which("ctr")
    if path is None:
        raise ImageError("ctr not found on PATH; it ships with containerd (Debian: apt-get install containerd)")
    return path


async def run_ctr(socket: Path, args: Sequence[str], *, timeout: float = CTR_TIMEOUT) -> str:
    """Run ``ctr --address SOCKET -n k8s.io ARGS`` and return its standard output.

    Raises ImageError with ctr's error output when it fails or times out.
    """
    command = [ctr_binary(), "--address", str(socket), "--namespace", CTR_NAMESPACE, *args]
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise ImageError(f"{' '.join(command)} timed out after {timeout:g} s") from None
    if process.returncode != 0:
        message = stderr.decode(errors="replace").strip()
        raise ImageError(f"{' '.join(command)} failed with status {process.returncode}: {message}")
    return stdout.decode(errors="replace")


async def import_archive(socket: Path, archive: Path, *, base_name: str | None = None) -> list[str]:
    """Import an image tarball into containerd; return the fully qualified names it now has.

    ``base_name`` names the images of an OCI archive whose index carries
    only tags ("1.0"), as ``ctr images import --base-name`` does.
    """
    if not archive.is_file():
        raise ImageError(f"image archive {archive} not found")
    args = ["images", "import", "--all-platforms"]
    if base_name:
        args += ["--base-name", base_name]
    output = await run_ctr(socket, [*args, str(archive)])
    imported = [match.group(1) for line in output.splitlines() if (match := _UNPACKING.match(line.strip()))]
    if not imported:
        raise ImageError(
            f"ctr imported no named image from {archive}; give the archive's images a name "
            "(an OCI archive with only tags needs a base name, like localhost/myapp)"
        )
    names = [await _rename_qualified(socket, name) for name in imported]
    logger.info("images imported archive=%s names=%s", archive, ",".join(names))
    return names


async def _rename_qualified(socket: Path, name: str) -> str:
    qualified = qualify(name)
    if qualified != name:
        await run_ctr(socket, ["images", "tag", "--force", name, qualified])
        await run_ctr(socket, ["images", "rm", name])
        logger.info("image renamed name=%s qualified=%s", name, qualified)
    return qualified


async def import_images_dir(socket: Path, data_dir: Path) -> list[str]:
    """Import every ``*.tar`` of ``<data_dir>/images/`` and return the names imported.

    A tarball that fails is logged and skipped, so one bad file does not
    keep the node from starting. Importing an image containerd already
    has only relabels it, so every start imports every file again.
    """
    folder = data_dir / IMAGES_DIR
    if not folder.is_dir():
        return []
    names: list[str] = []
    for archive in sorted(folder.glob("*.tar")):
        try:
            names += await import_archive(socket, archive)
        except ImageError as exc:
            logger.error("image import failed archive=%s error=%s", archive, exc)
    return names


async def import_pause_image(socket: Path, data_dir: Path, reference: str = PAUSE_IMAGE) -> str:
    """Build the sandbox image tarball from the installed pykube-pause binary and import it.

    The tarball is rebuilt at every start into ``<data_dir>/containerd/``;
    it is byte-identical each time, so the image id never changes.
    """
    archive = data_dir / "containerd" / "pykube-pause.tar"
    archive.parent.mkdir(parents=True, exist_ok=True)
    archive.write_bytes(build_pause_image(reference=reference))
    names = await import_archive(socket, archive)
    if reference not in names:
        raise ImageError(f"importing {archive} gave images {names}, not the sandbox image {reference}")
    return reference


async def import_node_images(socket: Path, data_dir: Path) -> list[str]:
    """Import what a node needs at start: the sandbox image, then ``<data_dir>/images/*.tar``.

    Returns every name imported. A failed sandbox image import raises,
    because no pod can start without it.
    """
    names = [await import_pause_image(socket, data_dir)]
    names += await import_images_dir(socket, data_dir)
    return names


async def ensure_image(
    cri: CRIClient, image: str, pull_policy: str, *, pulling: Callable[[], None] | None = None
) -> str:
    """Make ``image`` present according to ``pull_policy`` and return the runtime's image id.

    Always pulls on every call. IfNotPresent pulls only when CRI does not
    have the image, and Never raises ImageNeverPullError then. ``pulling``
    is called just before a pull starts. Pull failures raise the client's
    CRIError. containerd returns the image id ("sha256:...") both from
    ImageStatus and as PullImage's image_ref.
    """
    if pull_policy not in PULL_POLICIES:
        raise ValueError(f"invalid imagePullPolicy {pull_policy!r}; expected one of {', '.join(PULL_POLICIES)}")
    if pull_policy != "Always":
        present = await cri.image_status(image)
        if present is not None:
            image_id: str = present.id
            return image_id
        if pull_policy == "Never":
            raise ImageNeverPullError(
                f"image {image!r} is not present on the node and imagePullPolicy is Never; "
                "import it with 'pykube images import' or change the policy"
            )
    logger.info("image pull started image=%s policy=%s", image, pull_policy)
    if pulling is not None:
        pulling()
    image_ref = await cri.pull_image(image)
    logger.info("image pulled image=%s ref=%s", image, image_ref)
    return image_ref

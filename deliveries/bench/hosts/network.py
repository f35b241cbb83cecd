"""The hosts' network: a bridge in the root namespace and one Linux network namespace per
host, each joined to the bridge by a veth pair (``ip netns``, ``ip link``; iproute2).

A host reaches the others and the root namespace over its link, and nothing else: its
loopback is its own, so PostgreSQL and Redis (listening on 127.0.0.1 in the root
namespace) are reached only through the forwarder on the bridge's address. Cutting a
host's link sets the root side of its veth down, as pulling its cable out of a switch
would.

Every name starts with ``PREFIX``, so ``remove_leftovers`` clears what a crashed run left
(its namespaces, whatever still runs in them, its links) before the next run starts.
"""

import contextlib
import ipaddress
import os
import signal
import subprocess
import time
from dataclasses import dataclass

PREFIX = "wph-"
BRIDGE = f"{PREFIX}br"
# The link inside each namespace.
INNER_LINK = "eth0"


class NetworkError(RuntimeError):
    """An ``ip`` command failed, or the network cannot be made here."""


@dataclass(frozen=True)
class Host:
    """One simulated machine: a namespace with one address on the bridge's network."""

    name: str
    address: str

    @property
    def namespace(self) -> str:
        return f"{PREFIX}{self.name}"

    @property
    def link(self) -> str:
        """The root side of the host's veth pair (names of links and of namespaces do not
        clash: they are kept apart by the kernel)."""
        return f"{PREFIX}{self.name}"


@dataclass(frozen=True)
class Network:
    """A /24: the bridge (the root namespace's side, where the forwarder listens) on .1,
    the hosts on their own addresses."""

    prefix: str  # the first three octets, e.g. "10.203.0"
    hosts: tuple[Host, ...]

    @property
    def gateway(self) -> str:
        return f"{self.prefix}.1"

    @property
    def cidr(self) -> str:
        return f"{self.prefix}.0/24"

    def host(self, name: str) -> Host:
        return next(host for host in self.hosts if host.name == name)


def ip(*args: str) -> str:
    """Run ``ip ARGS``; its output. Raises ``NetworkError`` with ip's message."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def in_namespace(host: Host, argv: list[str]) -> list[str]:
    """The command line that runs ``argv`` inside ``host``'s namespace."""
    return ["ip", "netns", "exec", host.namespace, *argv]


def create(network: Network) -> None:
    """Make the bridge and every host's namespace and link. Raises ``NetworkError`` when
    an address of the network is already in use on this machine."""
    _refuse_taken(network)
    ip("link", "add", BRIDGE, "type", "bridge")
    ip("addr", "add", f"{network.gateway}/24", "dev", BRIDGE)
    ip("link", "set", BRIDGE, "up")
    for host in network.hosts:
        ip("netns", "add", host.namespace)
        peer = ("peer", "name", INNER_LINK, "netns", host.namespace)
        ip("link", "add", host.link, "type", "veth", *peer)
        ip("link", "set", host.link, "master", BRIDGE, "up")
        inside = ("-n", host.namespace)
        ip(*inside, "addr", "add", f"{host.address}/24", "dev", INNER_LINK)
        ip(*inside, "link", "set", INNER_LINK, "up")
        ip(*inside, "link", "set", "lo", "up")


def _refuse_taken(network: Network) -> None:
    subnet = ipaddress.ip_network(network.cidr)
    for line in ip("-o", "-4", "addr", "show").splitlines():
        fields = line.split()
        address = ipaddress.ip_interface(fields[3])
        if address.network.overlaps(subnet):
            raise NetworkError(
                f"{network.cidr} overlaps {fields[3]} on {fields[1]}: pick another --subnet"
            )


def set_link(host: Host, up: bool) -> None:
    """Connect (``up``) or cut the host's link."""
    ip("link", "set", host.link, "up" if up else "down")


def pids(namespace: str) -> list[int]:
    """The processes running in ``namespace`` (none once it is gone)."""
    try:
        return [int(pid) for pid in ip("netns", "pids", namespace).split()]
    except NetworkError:
        return []


def signal_all(namespace: str, sig: int) -> int:
    """Send ``sig`` to every process in ``namespace``; how many got it."""
    sent = 0
    for pid in pids(namespace):
        try:
            os.kill(pid, sig)
            sent += 1
        except ProcessLookupError:
            pass
    return sent


def stop_all(namespace: str, grace: float) -> None:
    """SIGTERM every process in ``namespace``, and SIGKILL what is left after ``grace``
    seconds."""
    if not signal_all(namespace, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace
    while pids(namespace) and time.monotonic() < deadline:
        time.sleep(0.2)
    signal_all(namespace, signal.SIGKILL)


def remove(network: Network) -> None:
    """Remove the network's hosts (their processes killed) and the bridge."""
    for host in network.hosts:
        signal_all(host.namespace, signal.SIGKILL)
    _remove_named(
        [host.link for host in network.hosts] + [BRIDGE], [h.namespace for h in network.hosts]
    )


def remove_leftovers() -> list[str]:
    """Remove every namespace and link whose name starts with ``PREFIX`` (killing what
    runs in those namespaces); the names removed."""
    namespaces = [line.split()[0] for line in ip("netns", "list").splitlines() if line.strip()]
    namespaces = [name for name in namespaces if name.startswith(PREFIX)]
    links = [
        line.split(":")[1].strip().split("@")[0] for line in ip("-o", "link", "show").splitlines()
    ]
    links = [name for name in links if name.startswith(PREFIX)]
    for namespace in namespaces:
        signal_all(namespace, signal.SIGKILL)
    _remove_named(links, namespaces)
    return sorted(set(namespaces + links))


def _remove_named(links: list[str], namespaces: list[str]) -> None:
    # The root sides first: deleting one deletes its peer at once, while a namespace's
    # links go asynchronously after the namespace is deleted.
    for link in links:
        _quietly("link", "del", link)
    for namespace in namespaces:
        _quietly("netns", "del", namespace)


def _quietly(*args: str) -> None:
    """``ip ARGS`` whose failure (already gone) does not matter."""
    with contextlib.suppress(NetworkError):
        ip(*args)

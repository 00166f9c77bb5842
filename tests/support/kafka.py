"""What the Kafka cluster of a local network holds, read from its ZooKeeper ensemble with ZooKeeper's own CLI."""

from __future__ import annotations

import json
import subprocess

from tdses.fabric import kafka


def partition_state(network, topic: str, partition: int = 0) -> dict:
    """The partition's leader broker id and in-sync replicas ({"leader": 1, "isr": [1, 0, 2], ...})."""
    servers = kafka.zookeeper_connect(network.topology)
    result = subprocess.run(
        [kafka.java(), "-cp", f"{kafka.jars_dir()}/*", "-Dlog4j.configuration=file:/dev/null",
         "org.apache.zookeeper.ZooKeeperMain", "-server", servers,
         "get", f"/brokers/topics/{topic}/partitions/{partition}/state"],
        capture_output=True, text=True, timeout=60,
    )
    for line in result.stdout.splitlines():
        if line.startswith("{"):
            return json.loads(line)
    raise AssertionError(f"no state for {topic}/{partition}: {result.stdout[-500:]} {result.stderr[-500:]}")

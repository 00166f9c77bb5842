"""T-DSES on Kubernetes: render the kustomize overlays from network-config/, validate them offline, apply them.

An organization's namespace (CA, peers, CLI, REST gateway, chaincode) or the orderer namespace (orderers with
Kafka and ZooKeeper, or Raft) is rendered from the same settings and the same per-node environment as the
local network (the deployment model in tdses.fabric), so the local network tests what Kubernetes runs.
"""

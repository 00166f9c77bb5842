"""The Fabric deployment model: topology, nodes and their layouts, channel configuration, crypto material,
chaincode packaging and each gateway's settings — what the local runner and Kubernetes both deploy."""

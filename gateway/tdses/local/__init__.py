"""A real Fabric network on loopback: plain processes, no Docker."""

"""Request and response bodies of the REST API (requests strict, responses as the chaincode returns them)."""

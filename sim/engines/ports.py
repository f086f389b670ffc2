"""Where ``python -m sim up`` listens by default: loopback only (the original API is private,
"the network is the boundary"), on LocalStack's port for AWS."""

LOOPBACK = "127.0.0.1"
DEFAULT_AWS_PORT = 4566
DEFAULT_API_PORT = 8080
DEFAULT_TFC_PORT = 8484

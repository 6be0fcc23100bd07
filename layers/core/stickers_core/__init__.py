"""The service's core: what the API function, the dead-letter function, the GPU worker and the local
stack share (models, validation, adapters of DynamoDB, SQS and S3, settings)."""

#: The service's version, as ``GET /v1/health`` reports it: pyproject.toml's ``version`` (a test keeps
#: them equal; the Lambda layer has no package metadata to read it from).
__version__ = "0.1.0"

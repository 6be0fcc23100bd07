"""The function's Powertools logger, tracer and metrics: one of each per execution environment, shared by
every module of the function (Powertools' own model: a Tracer or Metrics holds process-wide state).

Traces never capture what a handler returns (webhook secrets, presigned-POST credentials, callers' text):
every ``tracer.capture_*`` decorator in ``functions/`` passes ``capture_response=False``
(``tests/unit/test_tracing.py`` checks the source).
"""

# No `from __future__ import annotations` in this package: Powertools reads the route signatures at run time.

import logging
import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from stickers_core import limits

logger = Logger(service=limits.SERVICE_NAME)
# Powertools' Logger filters the root logger's handlers (the Lambda runtime's) so that records of loggers
# named after the service ("stickers…") are dropped: stickers_core's warnings were silently lost on AWS.
# They get this logger's handler and level instead (found by running the deployed artifact, tests/artifacts).
# The copy configures the package logger "stickers_core", which every stickers_core module's logger
# propagates to; it is registered here so the copy finds it whichever module was imported first.
logging.getLogger("stickers_core")
copy_config_to_registered_loggers(source_logger=logger, include={"stickers_core"})
warnings.filterwarnings("ignore", message="No application metrics to publish")
tracer = Tracer(service=limits.SERVICE_NAME)
metrics = Metrics(namespace=limits.METRICS_NAMESPACE, service=limits.SERVICE_NAME)

"""The function's Powertools logger and metrics: one of each per execution environment, shared by
every module of the function (Powertools' own model: Metrics holds process-wide state).

No tracer: the functions run with Lambda's active tracing (``infra/compute.py``), which records each
invocation (its init, duration and errors) without any SDK in the function. Powertools' ``Tracer`` and
the X-Ray SDK behind it were dropped (docs/design.md, "Observability"): the SDK is in maintenance mode
and cost ~150 ms, about a quarter of the API's cold import. No trace can hold what a handler returns,
as no code in the function sends trace data (``tests/unit/test_tracing.py``).
"""

# No `from __future__ import annotations` in this package: Powertools reads the route signatures at run time.

import logging
import warnings

from aws_lambda_powertools import Logger, Metrics
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
metrics = Metrics(namespace=limits.METRICS_NAMESPACE, service=limits.SERVICE_NAME)

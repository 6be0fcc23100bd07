"""The web page on AWS: ``local_stack/static/`` plus a generated ``config.json``, deployed to the site bucket."""

from __future__ import annotations

from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from infra.storage import SITE_ROOT_OBJECT, Storage
from local_stack.cdn import SITE_CONFIG_FILE, SITE_EXCLUDE, STATIC_DIR, site_config

# The page's folder, what is left out of the bucket and the config.json document are declared once in
# local_stack.cdn, whose CloudFront front serves exactly this content on the local stack.
#: The file the page reads to find the API and its WebSocket (``{"apiUrl": …, "wsUrl": …}``, see ``index.html``).
CONFIG_FILE = SITE_CONFIG_FILE
#: Left out of the bucket (Swagger UI and its OpenAPI copy under ``docs/`` ARE deployed: the API reference
#: is static content on the CDN, not an API Gateway resource).
EXCLUDE = list(SITE_EXCLUDE)
#: Paths invalidated in CloudFront after each deployment (the page, its root, its configuration).
INVALIDATED_PATHS = ["/", f"/{SITE_ROOT_OBJECT}", f"/{CONFIG_FILE}", "/docs/*"]


class WebPage(Construct):
    """Copies the web page into the site bucket behind the distribution's default behaviour.

    ``config.json`` is generated at deployment from the API stage URL (``apiUrl``) and the WebSocket
    stage URL (``wsUrl``, live progress), so the page served by CloudFront calls this stack's API (the page falls back to ``?api=`` and to its own origin when
    the file is absent, which is the local stack's case). Files removed from the folder are removed
    from the bucket (``prune``), and the page's paths are invalidated in CloudFront.

    Attributes:
        deployment: the ``BucketDeployment`` (a CDK custom resource backed by a Lambda function).
    """

    def __init__(self, scope: Construct, construct_id: str, *, storage: Storage, api_url: str, ws_url: str | None = None) -> None:
        super().__init__(scope, construct_id)
        self.deployment = s3deploy.BucketDeployment(
            self,
            "Deploy",
            destination_bucket=storage.site_bucket,
            sources=[
                s3deploy.Source.asset(str(STATIC_DIR), exclude=EXCLUDE),
                s3deploy.Source.json_data(CONFIG_FILE, site_config(api_url, ws_url)),
            ],
            prune=True,
            distribution=storage.distribution,
            distribution_paths=INVALIDATED_PATHS,
            memory_limit=256,
        )

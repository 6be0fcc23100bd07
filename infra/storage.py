"""Bytes: the uploads, stickers and web-page buckets, their access-log bucket, and the CloudFront CDN."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import StackConfig
from local_stack.cdn import site_csp
from stickers_core import limits

#: How long CloudFront may keep a sticker (the cache policy's default and maximum TTL, equal to the
#: ``max-age`` the objects carry): a deleted (DELETE /v1/jobs/{jobId}) or expired sticker stops being
#: served within it. Chosen over a CloudFront invalidation per deletion: no ``CreateInvalidation``
#: grant, no charge per deleted job (invalidation paths past 1,000 a month are charged), and it covers
#: the lifecycle rule's expirations too; the cost is an origin revalidation (a conditional S3 GET,
#: usually 304) per edge location and 5 minutes of a sticker's popularity.
STICKER_CACHE_TTL = Duration.seconds(limits.STICKER_CACHE_MAX_AGE_S)


#: The CloudFront path pattern of the stickers (their keys are ``stickers/<jobId>/<n>-<style>.png``).
STICKERS_PATH_PATTERN = f"{limits.STICKERS_PREFIX}/*"
#: What CloudFront serves for ``/``: the web page (``local_stack/static/index.html``).
SITE_ROOT_OBJECT = "index.html"


class Storage(Construct):
    """Private, encrypted, SSL-only, access-logged buckets and the one CloudFront distribution.

    The distribution has two origins, both private buckets read through Origin Access Control:
    ``stickers/*`` → the stickers bucket (cached at most :data:`STICKER_CACHE_TTL`, 5 minutes, so a
    deleted or expired sticker stops answering within minutes; CORS for other origins' pages), and everything
    else (the default behaviour, ``/`` → ``index.html``) → the web-page bucket, whose content
    :class:`infra.site.WebPage` deploys.

    Attributes:
        log_bucket: S3 server access logs of the other buckets and CloudFront standard logs.
        uploads_bucket: photos uploaded directly or with a presigned POST; objects expire after a day.
        stickers_bucket: rendered stickers; objects expire after ``stickerRetentionDays``, the same
            number of days as the job records' DynamoDB TTL (``STICKERS_RETENTION_DAYS``,
            :data:`stickers_core.limits.RETENTION_DAYS` by default).
        site_bucket: the web page (``index.html`` and ``config.json``).
        distribution: CloudFront (Origin Access Control, HTTPS only).
        cdn_base_url: ``https://<distribution domain>`` (no trailing slash): the stickers' base URL
            and the web page's URL.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY
        auto_delete = not config.retain_data

        self.log_bucket = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            # CloudFront standard logging writes with an ACL, so ACLs must stay enabled here.
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(id="expire-logs", expiration=Duration.days(90))],
            removal_policy=removal,
            auto_delete_objects=auto_delete,
        )

        self.uploads_bucket = self._private_bucket(
            "Uploads",
            "s3/uploads/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-uploads",
                    expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            # Browsers POST the photo straight to S3 with the presigned form (POST /v1/uploads).
            cors=[
                s3.CorsRule(
                    allowed_methods=[s3.HttpMethods.POST, s3.HttpMethods.PUT],
                    allowed_origins=config.cors_origins,
                    allowed_headers=["*"],
                    exposed_headers=["ETag", "Location"],
                    max_age=3000,
                )
            ],
            removal_policy=removal,
            auto_delete_objects=auto_delete,
        )

        self.stickers_bucket = self._private_bucket(
            "Stickers",
            "s3/stickers/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-stickers",
                    prefix=f"{limits.STICKERS_PREFIX}/",
                    expiration=Duration.days(config.sticker_retention_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=removal,
            auto_delete_objects=auto_delete,
        )

        self.site_bucket = self._private_bucket(
            "Site",
            "s3/site/",
            # The web page is rebuilt from the repository by every deployment: nothing to retain.
            removal_policy=RemovalPolicy.DESTROY,
            auto_delete_objects=True,
        )

        cache_policy = cloudfront.CachePolicy(
            self,
            "ImmutableStickers",  # the construct id of the one-year policy it replaces: updated in place
            comment="Stickers: cached at most 5 minutes (deleted ones stop answering), no cookies/headers/query strings in the key",
            default_ttl=STICKER_CACHE_TTL,
            max_ttl=STICKER_CACHE_TTL,
            min_ttl=Duration.seconds(0),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
            header_behavior=cloudfront.CacheHeaderBehavior.none(),
            query_string_behavior=cloudfront.CacheQueryStringBehavior.none(),
            enable_accept_encoding_gzip=False,  # PNGs: already compressed
            enable_accept_encoding_brotli=False,
        )
        stickers_behavior = cloudfront.BehaviorOptions(
            origin=origins.S3BucketOrigin.with_origin_access_control(self.stickers_bucket),
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
            allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
            cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
            cache_policy=cache_policy,
            # Stickers are fetched by web pages on other origins (<img>, fetch()).
            response_headers_policy=cloudfront.ResponseHeadersPolicy.CORS_ALLOW_ALL_ORIGINS_WITH_PREFLIGHT_AND_SECURITY_HEADERS,
            compress=False,
        )
        self.site_headers = self._site_headers_policy()
        site_behavior = cloudfront.BehaviorOptions(
            origin=origins.S3BucketOrigin.with_origin_access_control(self.site_bucket),
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
            allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
            cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
            # Each deployment invalidates the page's paths (infra/site.py), so the default TTLs are fine.
            cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
            response_headers_policy=self.site_headers,
            compress=True,
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Cdn",
            comment=f"{config.stage} stickers CDN and web page",
            default_behavior=site_behavior,
            default_root_object=SITE_ROOT_OBJECT,
            additional_behaviors={STICKERS_PATH_PATTERN: stickers_behavior},
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            enable_logging=True,
            log_bucket=self.log_bucket,
            log_file_prefix="cloudfront/",
        )
        self.cdn_base_url = f"https://{self.distribution.distribution_domain_name}"

    def _site_headers_policy(self) -> cloudfront.ResponseHeadersPolicy:
        """The web page's response headers: the managed SecurityHeadersPolicy's set plus its
        Content-Security-Policy (:func:`local_stack.cdn.site_csp`, which the local CDN front sends too).

        ``connect-src`` names the uploads bucket's regional endpoint (presigned POSTs) and API Gateway's
        execute-api domain of this region by wildcard: the API's own id cannot appear here, because the
        API function's environment already depends on this distribution (CloudFormation would see a cycle).
        """
        stack = Stack.of(self)
        execute_api = f"*.execute-api.{stack.region}.{stack.url_suffix}"
        # the API (https) and its WebSocket for live progress (wss), on execute-api; the uploads bucket
        connect = [f"https://{execute_api}", f"wss://{execute_api}", f"https://{self.uploads_bucket.bucket_regional_domain_name}"]
        return cloudfront.ResponseHeadersPolicy(
            self,
            "SiteHeaders",
            comment="Web page: security headers and its Content-Security-Policy",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=site_csp(connect), override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(frame_option=cloudfront.HeadersFrameOption.DENY, override=True),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN, override=True
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(365), include_subdomains=True, override=True
                ),
                xss_protection=cloudfront.ResponseHeadersXSSProtection(protection=True, mode_block=True, override=True),
            ),
        )

    def _private_bucket(self, construct_id: str, logs_prefix: str, **options: object) -> s3.Bucket:
        """A bucket with the stack's security defaults: SSE-S3, Block Public Access, no ACLs, TLS only,
        server access logs to the log bucket under `logs_prefix`; `options` add lifecycle, CORS,
        removal policy."""
        return s3.Bucket(
            self,
            construct_id,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            server_access_logs_bucket=self.log_bucket,
            server_access_logs_prefix=logs_prefix,
            **options,
        )

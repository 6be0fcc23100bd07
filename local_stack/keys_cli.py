"""``stickers keys create|list|revoke``: API keys of a deployed stack (API Gateway + usage plan).

The usage plan comes from ``--usage-plan-id``, else from the ``UsagePlanId`` output of the stack
(``--stack``, default ``Stickers-dev``; CloudFormation DescribeStacks). Needs AWS credentials with
``apigateway:*`` on keys and usage plans (and ``cloudformation:DescribeStacks`` for the lookup).

Examples::

    stickers keys create alice            # prints the key id and its value (shown once)
    stickers keys list
    stickers keys revoke 1a2b3c4d5e
    stickers keys revoke 1a2b3c4d5e --force   # a key that is not on the stack's usage plan
"""

from __future__ import annotations

from typing import Annotated, Any

import boto3
import typer
from rich.console import Console
from rich.table import Table

keys_app = typer.Typer(help="Manage API keys of a deployed stack (API Gateway usage plan).", no_args_is_help=True)
console = Console()

DEFAULT_STACK = "Stickers-dev"
USAGE_PLAN_OUTPUT = "UsagePlanId"

UsagePlanOpt = Annotated[
    str | None, typer.Option("--usage-plan-id", help="Usage plan id (default: the stack's UsagePlanId output).")
]
StackOpt = Annotated[str, typer.Option("--stack", help="CloudFormation stack to read the usage plan from.")]
RegionOpt = Annotated[str | None, typer.Option("--region", help="AWS region (default: from the environment).")]


def _client(service: str, region: str | None) -> Any:
    return boto3.client(service, region_name=region) if region else boto3.client(service)


def find_usage_plan_id(stack_name: str, region: str | None = None) -> str:
    """The ``UsagePlanId`` output of `stack_name`.

    Raises:
        typer.BadParameter: the stack or the output does not exist.
    """
    cfn = _client("cloudformation", region)
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except cfn.exceptions.ClientError as exc:
        raise typer.BadParameter(f"stack {stack_name!r} not found: {exc}") from exc
    for output in stacks[0].get("Outputs", []):
        if output["OutputKey"] == USAGE_PLAN_OUTPUT:
            return str(output["OutputValue"])
    raise typer.BadParameter(f"stack {stack_name!r} has no {USAGE_PLAN_OUTPUT} output; pass --usage-plan-id")


def _plan(usage_plan_id: str | None, stack: str, region: str | None) -> str:
    return usage_plan_id or find_usage_plan_id(stack, region)


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Name of the key (who it is for).")],
    usage_plan_id: UsagePlanOpt = None,
    stack: StackOpt = DEFAULT_STACK,
    region: RegionOpt = None,
) -> None:
    """Create an enabled API key and attach it to the usage plan; print its id and value."""
    plan = _plan(usage_plan_id, stack, region)
    apigw = _client("apigateway", region)
    key = apigw.create_api_key(name=name, enabled=True, description=f"stickers key for {name}")
    apigw.create_usage_plan_key(usagePlanId=plan, keyId=key["id"], keyType="API_KEY")
    console.print(f"[green]created[/green] key [bold]{key['id']}[/bold] ({name}) on usage plan {plan}")
    console.print(f"x-api-key: [bold]{key['value']}[/bold]")


@keys_app.command("list")
def list_keys(usage_plan_id: UsagePlanOpt = None, stack: StackOpt = DEFAULT_STACK, region: RegionOpt = None) -> None:
    """List the keys attached to the usage plan."""
    plan = _plan(usage_plan_id, stack, region)
    apigw = _client("apigateway", region)
    table = Table(title=f"API keys of usage plan {plan}")
    for column in ("id", "name", "enabled", "created"):
        table.add_column(column)
    for page in apigw.get_paginator("get_usage_plan_keys").paginate(usagePlanId=plan):
        for item in page.get("items", []):
            key = apigw.get_api_key(apiKey=item["id"])
            created = key.get("createdDate")
            table.add_row(key["id"], key.get("name", ""), str(key.get("enabled", False)), str(created or ""))
    console.print(table)


@keys_app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="Id of the API key (not its value).")],
    usage_plan_id: UsagePlanOpt = None,
    stack: StackOpt = DEFAULT_STACK,
    region: RegionOpt = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Delete the key even when it is not on the stack's usage plan (it may belong to another API)."),
    ] = False,
) -> None:
    """Detach the key from the usage plan and delete it (requests with it get 403 at once).

    API keys belong to the account and region, not to one API: only keys on this stack's usage plan
    are revoked, unless ``--force``.

    Exits with status 1 (nothing deleted) when the key does not exist, or when it is not on the
    usage plan and ``--force`` is not given.
    """
    plan = _plan(usage_plan_id, stack, region)
    apigw = _client("apigateway", region)
    on_plan = {
        item["id"]
        for page in apigw.get_paginator("get_usage_plan_keys").paginate(usagePlanId=plan)
        for item in page.get("items", [])
    }
    if key_id not in on_plan and not force:
        try:
            key = apigw.get_api_key(apiKey=key_id)
        except apigw.exceptions.NotFoundException as exc:
            console.print(f"[red]no such key[/red] {key_id}")
            raise typer.Exit(1) from exc
        name = f" ({key['name']})" if key.get("name") else ""
        console.print(
            f"[red]refused:[/red] key {key_id}{name} is not on usage plan {plan} (stack {stack}); it may belong "
            "to another API in this account and region. Nothing was deleted. Pass --force to delete it anyway."
        )
        raise typer.Exit(1)
    if key_id in on_plan:
        apigw.delete_usage_plan_key(usagePlanId=plan, keyId=key_id)
    try:
        apigw.delete_api_key(apiKey=key_id)
    except apigw.exceptions.NotFoundException as exc:
        console.print(f"[red]no such key[/red] {key_id}")
        raise typer.Exit(1) from exc
    console.print(f"[yellow]revoked[/yellow] key {key_id}")

"""multipart/form-data parsing for the direct photo upload (python-multipart underneath)."""

from __future__ import annotations

from dataclasses import dataclass, field

from stickers_core.errors import ValidationFailed


@dataclass
class FormPart:
    """One part of a multipart body: its field name, optional file name, content type and bytes."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytearray = field(default_factory=bytearray)


def _header_dict(raw: list[tuple[bytes, bytes]]) -> dict[str, bytes]:
    return {k.decode("latin-1").lower(): v for k, v in raw}


def parse_multipart(body: bytes, content_type: str, *, max_part_bytes: int) -> dict[str, FormPart]:
    """Parse a multipart/form-data body into its parts, keyed by field name (first one wins).

    Args:
        body: the whole request body, bytes.
        content_type: the request's Content-Type header (carries the boundary).
        max_part_bytes: a part larger than this is refused while parsing, in bytes.

    Returns:
        ``{name: FormPart}``.

    Raises:
        ValidationFailed: `INVALID_REQUEST` for a malformed body or missing boundary; `TOO_LARGE`
            (413) for a part over `max_part_bytes`.
    """
    # imported here: only photo uploads need it, and the API's other cold starts skip ~20 ms
    from python_multipart.multipart import MultipartParser, parse_options_header

    ctype, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise ValidationFailed("INVALID_REQUEST", "Expected multipart/form-data with a boundary")

    parts: dict[str, FormPart] = {}
    state: dict[str, object] = {"headers": [], "name": b"", "current": None}

    def on_part_begin() -> None:
        state["headers"] = []
        state["current"] = None

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["name"] = data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["headers"].append((state["name"], data[start:end]))  # type: ignore[union-attr]

    def on_headers_finished() -> None:
        headers = _header_dict(state["headers"])  # type: ignore[arg-type]
        _, disp = parse_options_header(headers.get("content-disposition", b""))
        name = disp.get(b"name", b"").decode("utf-8", "replace")
        filename = disp.get(b"filename")
        part = FormPart(
            name=name,
            filename=filename.decode("utf-8", "replace") if filename is not None else None,
            content_type=headers.get("content-type", b"").decode("latin-1") or None,
        )
        state["current"] = part
        parts.setdefault(name, part)

    def on_part_data(data: bytes, start: int, end: int) -> None:
        part: FormPart = state["current"]  # type: ignore[assignment]
        part.data += data[start:end]
        if len(part.data) > max_part_bytes:
            raise _TooLarge()

    parser = MultipartParser(
        boundary,
        callbacks={
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except _TooLarge:
        raise ValidationFailed("TOO_LARGE", "File too large", status=413, maxSize=max_part_bytes) from None
    except Exception:  # noqa: BLE001 - python-multipart raises several error types for malformed input
        raise ValidationFailed("INVALID_REQUEST", "Malformed multipart/form-data body") from None
    return parts


class _TooLarge(Exception):
    pass

"""stickers_core.forms.parse_multipart: the direct photo upload's multipart/form-data parser (no HTTP)."""

from __future__ import annotations

import pytest

from stickers_core.errors import ApiError
from stickers_core.forms import FormPart, parse_multipart

BOUNDARY = b"----sticker-boundary-7MA4YWxk"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY.decode()}"


def form(*parts: tuple[list[bytes], bytes], boundary: bytes = BOUNDARY, close: bool = True) -> bytes:
    """A multipart body of `parts` ((header lines, data) each), with the closing delimiter or not."""
    out = b"".join(b"--" + boundary + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + data + b"\r\n" for headers, data in parts)
    return out + (b"--" + boundary + b"--\r\n" if close else b"")


def field(name: bytes, data: bytes) -> tuple[list[bytes], bytes]:
    return [b'Content-Disposition: form-data; name="' + name + b'"'], data


def parse(body: bytes, content_type: str = CONTENT_TYPE, max_part_bytes: int = 1024) -> dict[str, FormPart]:
    return parse_multipart(body, content_type, max_part_bytes=max_part_bytes)


def refused(body: bytes, content_type: str = CONTENT_TYPE, max_part_bytes: int = 1024) -> ApiError:
    with pytest.raises(ApiError) as raised:
        parse(body, content_type, max_part_bytes)
    return raised.value


def test_files_and_fields() -> None:
    image = ([b'Content-Disposition: form-data; name="image"; filename="cat.png"', b"Content-Type: image/png"], b"\x89PNG\r\n\x1a\n\x00data")
    parts = parse(form(image, field(b"styles", b"classic,pop"), field(b"count", b"3")))
    assert list(parts) == ["image", "styles", "count"]
    assert (parts["image"].name, parts["image"].filename, parts["image"].content_type) == ("image", "cat.png", "image/png")
    assert bytes(parts["image"].data) == b"\x89PNG\r\n\x1a\n\x00data", "binary data, CR LF included, kept byte for byte"
    assert (parts["styles"].filename, parts["styles"].content_type, bytes(parts["styles"].data)) == (None, None, b"classic,pop")


def test_header_names_are_case_insensitive_and_the_boundary_may_be_quoted() -> None:
    body = form(([b'CONTENT-DISPOSITION: form-data; name="image"; filename="a.jpg"', b"content-type: image/jpeg"], b"jpeg"))
    for content_type in (CONTENT_TYPE, f'multipart/form-data; boundary="{BOUNDARY.decode()}"', f"Multipart/Form-Data; boundary={BOUNDARY.decode()}"):
        part = parse(body, content_type)["image"]
        assert (part.filename, part.content_type, bytes(part.data)) == ("a.jpg", "image/jpeg", b"jpeg")


def test_quoted_names_with_separators_and_escapes() -> None:
    parts = parse(form(field(b"a;b", b"1"), field(b'x\\"y', b"2"), ([b"Content-Disposition: form-data; name=plain"], b"3")))
    assert {name: bytes(p.data) for name, p in parts.items()} == {"a;b": b"1", 'x"y': b"2", "plain": b"3"}


def test_unicode_file_names() -> None:
    name = "café 😀 स्टिकर.png"
    part = parse(form(([b'Content-Disposition: form-data; name="image"; filename="' + name.encode() + b'"'], b"d")))["image"]
    assert part.filename == name
    latin1 = parse(form(([b'Content-Disposition: form-data; name="image"; filename="\xff.png"'], b"d")))["image"]
    assert latin1.filename == "\ufffd.png", "bytes that are not UTF-8 are replaced, not refused"
    rfc5987 = parse(form(([b"Content-Disposition: form-data; name=\"image\"; filename*=UTF-8''caf%C3%A9.png"], b"d")))["image"]
    assert rfc5987.filename is None, "filename* (RFC 5987) is not read"


def test_data_that_looks_like_a_boundary_is_data() -> None:
    data = b"line1\r\n--" + BOUNDARY + b"X\r\n--" + BOUNDARY[:-1] + b"\r\nline2"
    assert bytes(parse(form(field(b"a", data)))["a"].data) == data


def test_the_first_of_duplicate_fields_wins() -> None:
    parts = parse(form(field(b"image", b"first"), field(b"styles", b"pop"), field(b"image", b"second")))
    assert bytes(parts["image"].data) == b"first" and list(parts) == ["image", "styles"]


def test_a_part_over_the_limit_is_413_while_parsing() -> None:
    assert bytes(parse(form(field(b"image", b"x" * 1024)))["image"].data) == b"x" * 1024, "exactly the limit is accepted"
    error = refused(form(field(b"image", b"x" * 1025)))
    assert (error.status, error.code, error.details) == (413, "TOO_LARGE", {"maxSize": 1024})
    error = refused(form(field(b"styles", b"pop"), field(b"notes", b"y" * 5000)))
    assert error.code == "TOO_LARGE", "any part, not only the image"


def test_a_missing_closing_delimiter_keeps_what_was_read() -> None:
    """Tolerated by the parser: the parts read so far come back (a truncated photo is then refused as
    CORRUPT_IMAGE by stickers_core.images.inspect_image)."""
    parts = parse(form(field(b"styles", b"pop"), field(b"image", b"partial"), close=False))
    assert {name: bytes(p.data) for name, p in parts.items()} == {"styles": b"pop", "image": b"partial"}
    assert parse(b"") == {}, "an empty body has no parts (the route answers NO_IMAGE)"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (form(field(b"a", b"1")), "multipart/form-data"),  # no boundary
        (form(field(b"a", b"1")), f"application/json; boundary={BOUNDARY.decode()}"),  # not multipart
        (form(field(b"a", b"1")), "multipart/form-data; boundary=another"),  # the body's boundary is not this one
        (b"not a multipart body at all", CONTENT_TYPE),
    ],
)
def test_malformed_bodies_are_invalid_request(body: bytes, content_type: str) -> None:
    error = refused(body, content_type)
    assert (error.status, error.code) == (400, "INVALID_REQUEST")

"""The API routes of docs/api.md through the emulated API Gateway and the real API Lambda handler."""

from __future__ import annotations

import httpx
import pytest
from PIL import Image

from stickers_core import limits
from stickers_core.errors import ERROR_CODES
from stickers_core.styles import DEFAULT_IMAGE_STYLES, DEFAULT_TEXT_STYLES, IMAGE_STYLES, TEXT_STYLES
from tests.helpers import encode


def _error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and body["code"] == code and body["error"], body
    assert code in ERROR_CODES and ERROR_CODES[code] == status
    assert response.headers.get("x-request-id")
    return body


def test_missing_or_unknown_key_is_403_like_api_gateway(stack) -> None:  # noqa: ANN001
    for headers in ({}, {"x-api-key": "nope"}):
        r = httpx.get(f"{stack.url}/v1/styles", headers=headers)
        assert r.status_code == 403 and r.json() == {"message": "Forbidden"}
        assert r.headers.get("x-request-id")


def test_styles(api: httpx.Client) -> None:
    body = api.get("/v1/styles").json()
    # the catalogue, in its order, each style flagged default or not
    assert [(s["name"], s["default"]) for s in body["image"]] == [(s.name, s.default) for s in IMAGE_STYLES]
    assert [(s["name"], s["default"]) for s in body["text"]] == [(s.name, s.default) for s in TEXT_STYLES]
    assert all(s["description"] for s in body["image"] + body["text"])
    assert [s["name"] for s in body["image"] if s["default"]] == list(DEFAULT_IMAGE_STYLES)
    assert DEFAULT_IMAGE_STYLES and len(DEFAULT_IMAGE_STYLES) < len(IMAGE_STYLES), "some image styles are opt-in"


def test_image_job_is_accepted_and_readable(api: httpx.Client, cat_photo: bytes) -> None:
    r = api.post("/v1/stickers/image", files={"image": ("vacation.jpg", cat_photo, "application/octet-stream")})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["success"] and body["message"] == "Job queued successfully"
    job_id = body["data"]["jobId"]
    assert body["data"]["status"] == "queued" and body["data"]["statusUrl"] == f"/v1/jobs/{job_id}"
    assert r.headers["x-request-id"]
    doc = api.get(f"/v1/jobs/{job_id}").json()
    assert doc["status"] == "queued" and doc["progress"] == 0 and doc["attempts"] == 0
    assert doc["styles"] == list(DEFAULT_IMAGE_STYLES) and doc["count"] == len(DEFAULT_IMAGE_STYLES)
    uploaded_at = doc["metadata"].pop("uploadedAt")
    assert doc["metadata"] == {"type": "image", "originalName": "vacation.jpg", "dimensions": {"width": 451, "height": 300, "format": "jpeg"}}
    assert uploaded_at[:19] <= doc["createdAt"][:19] and uploaded_at.endswith("Z"), "the photo arrived when the job was submitted"


def test_styles_and_count_on_the_image_route(api: httpx.Client, cat_photo: bytes) -> None:
    r = api.post("/v1/stickers/image", files={"image": ("c.jpg", cat_photo)}, data={"styles": "pixel,cutout", "count": "3"})
    assert r.status_code == 202
    assert r.json()["data"]["styles"] == ["pixel", "cutout", "pixel"]


def test_text_job_echoes_normalised_input(api: httpx.Client) -> None:
    r = api.post("/v1/stickers/text", json={"text": "  Happy Birthday!  ", "keywords": ["party", "cake", "Party"]})
    assert r.status_code == 202
    data = r.json()["data"]
    assert r.json()["message"] == "Text sticker job queued successfully"
    assert data["input"] == {"text": "Happy Birthday!", "keywords": ["party", "cake"]}
    assert data["styles"] == list(DEFAULT_TEXT_STYLES)


@pytest.mark.parametrize(
    "files,data,status,code",
    [
        ({"other": ("a.txt", b"hi", "text/plain")}, {}, 400, "NO_IMAGE"),
        ({"image": ("a.png", b"", "image/png")}, {}, 400, "NO_IMAGE"),
        ({"image": ("a.png", b"just text", "image/png")}, {}, 415, "UNSUPPORTED_TYPE"),
        ({"image": ("a.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 64, "image/jpeg")}, {}, 400, "CORRUPT_IMAGE"),
        ({"image": ("a.png", encode(Image.new("RGB", (32, 32)), "PNG"), "image/png")}, {}, 400, "BAD_DIMENSIONS"),
        ({"image": ("a.png", encode(Image.new("RGB", (100, 100)), "PNG"), "image/png")}, {"styles": "glitter"}, 400, "UNKNOWN_STYLE"),
        ({"image": ("a.png", encode(Image.new("RGB", (100, 100)), "PNG"), "image/png")}, {"count": "9"}, 400, "BAD_COUNT"),
    ],
)
def test_image_route_errors(api: httpx.Client, files, data, status, code) -> None:  # noqa: ANN001
    _error(api.post("/v1/stickers/image", files=files, data=data), status, code)


def test_direct_upload_over_the_limit_is_413_pointing_to_uploads(api: httpx.Client) -> None:
    big = b"\xff\xd8\xff\xe0" + b"\x00" * (limits.DIRECT_UPLOAD_MAX_BYTES + 10)
    body = _error(api.post("/v1/stickers/image", files={"image": ("big.jpg", big, "image/jpeg")}), 413, "TOO_LARGE")
    assert body["maxSize"] == limits.DIRECT_UPLOAD_MAX_BYTES and body["uploadUrl"] == "/v1/uploads"


def test_image_route_without_body_or_with_wrong_media_type(api: httpx.Client) -> None:
    _error(api.post("/v1/stickers/image"), 400, "NO_IMAGE")
    _error(api.post("/v1/stickers/image", content=b"abc", headers={"content-type": "text/plain"}), 415, "UNSUPPORTED_MEDIA_TYPE")
    _error(api.post("/v1/stickers/image", json={"uploadId": "00000000-0000-4000-8000-000000000000"}), 404, "UPLOAD_NOT_FOUND")


@pytest.mark.parametrize(
    "body,code",
    [
        ({}, "NO_INPUT"),
        ({"text": "x" * 201}, "TEXT_TOO_LONG"),
        ({"keywords": [str(i) for i in range(11)]}, "TOO_MANY_KEYWORDS"),
        ({"text": "hi", "styles": ["classic"]}, "UNKNOWN_STYLE"),
        ({"text": "hi", "count": 0}, "BAD_COUNT"),
        ({"text": 42}, "INVALID_REQUEST"),
        ({"text": "hi", "callbackUrl": "ftp://x"}, "INVALID_REQUEST"),
    ],
)
def test_text_route_errors(api: httpx.Client, body, code) -> None:  # noqa: ANN001
    _error(api.post("/v1/stickers/text", json=body), 400, code)


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b"[" * 5000 + b"]" * 5000, b'{"a":' * 100 + b"1" + b"}" * 100])
def test_text_route_bad_json(api: httpx.Client, raw: bytes) -> None:
    _error(api.post("/v1/stickers/text", content=raw, headers={"content-type": "application/json"}), 400, "INVALID_JSON")


def test_jobs_are_private_to_their_key(api: httpx.Client, api_b: httpx.Client) -> None:
    job_id = api.post("/v1/stickers/text", json={"text": "mine"}).json()["data"]["jobId"]
    assert api.get(f"/v1/jobs/{job_id}").status_code == 200
    _error(api_b.get(f"/v1/jobs/{job_id}"), 404, "JOB_NOT_FOUND")
    _error(api_b.delete(f"/v1/jobs/{job_id}"), 404, "JOB_NOT_FOUND")
    assert job_id not in [j["jobId"] for j in api_b.get("/v1/jobs?limit=100").json()["jobs"]]


@pytest.mark.parametrize("job_id", ["nope", "00000000-0000-4000-8000-000000000000", "..%2F..%2Fetc", "3F0C" * 9])
def test_unknown_or_malformed_job_ids_are_404(api: httpx.Client, job_id: str) -> None:
    _error(api.get(f"/v1/jobs/{job_id}"), 404, "JOB_NOT_FOUND")


def test_list_jobs_newest_first_with_pagination(api_b: httpx.Client) -> None:
    ids = [api_b.post("/v1/stickers/text", json={"text": f"n{i}"}).json()["data"]["jobId"] for i in range(3)]
    first = api_b.get("/v1/jobs", params={"limit": 2}).json()
    assert [j["jobId"] for j in first["jobs"]] == ids[::-1][:2]
    assert first["nextToken"]
    second = api_b.get("/v1/jobs", params={"limit": 2, "nextToken": first["nextToken"]}).json()
    assert second["jobs"][0]["jobId"] == ids[0]
    _error(api_b.get("/v1/jobs", params={"limit": 0}), 400, "INVALID_REQUEST")
    _error(api_b.get("/v1/jobs", params={"nextToken": "garbage"}), 400, "INVALID_REQUEST")


def test_stats_counts_the_callers_jobs_and_the_queue(api: httpx.Client) -> None:
    before = api.get("/v1/stats").json()
    api.post("/v1/stickers/text", json={"text": "count me"})
    after = api.get("/v1/stats").json()
    assert after["success"] and set(after["queue"]) == {"waiting", "active", "delayed"}
    assert after["jobs"]["total"] == before["jobs"]["total"] + 1
    assert after["jobs"]["queued"] == before["jobs"]["queued"] + 1
    assert after["timestamp"].endswith("Z")


def test_unknown_route_is_404_in_contract_shape(api: httpx.Client) -> None:
    _error(api.get("/v1/nothing-here"), 404, "NOT_FOUND")


@pytest.mark.parametrize("route", ["/v1/stickers/text", "/v1/uploads"])
def test_json_routes_refuse_other_media_types(api: httpx.Client, route: str) -> None:
    _error(api.post(route, content=b"text=hi", headers={"content-type": "application/x-www-form-urlencoded"}), 415, "UNSUPPORTED_MEDIA_TYPE")
    _error(api.post(route, files={"text": ("a.txt", b"hi")}), 415, "UNSUPPORTED_MEDIA_TYPE")

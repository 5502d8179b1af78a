"""Data capture: sampled requests and responses written to S3 in SageMaker's JSON Lines capture format, at
`{DestinationS3Uri}/{EndpointName}/{VariantName}/yyyy/mm/dd/hh/{mm-ss-mmm}-{uuid}.jsonl` (the hour of the file's
first record, UTC), through the emulator's own S3 API (so bucket policies and default encryption apply).

One line per captured invocation:
  {"captureData": {"endpointInput": {"observedContentType", "mode": "INPUT", "data", "encoding"},
                   "endpointOutput": {"observedContentType", "mode": "OUTPUT", "data", "encoding"}},
   "eventMetadata": {"eventId", "inferenceTime", ["inferenceId"]}, "eventVersion": "0"}
`encoding` is CSV or JSON (data as text) for the content types CaptureContentTypeHeader lists, BASE64 otherwise
(AWS's default when the header lists none). Only invocations the model answered with 2xx are captured.
Records are batched per variant and written every FLUSH_INTERVAL seconds (AWS batches for minutes) and when the
fleet stops.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from mlops_cli.emulator.jobs.inputs import S3Uri
from mlops_cli.emulator.jobs.runtime import announce
from mlops_cli.emulator.serving.plans import CaptureSettings

FLUSH_INTERVAL = 1.0  # seconds


@dataclass(frozen=True)
class Exchange:
    """One invocation as the capture sees it."""

    variant: str
    request_body: bytes
    request_type: str
    response_body: bytes
    response_type: str
    inference_id: str | None
    at: dt.datetime


def _media(header: str) -> str:
    return header.split(";", 1)[0].strip().lower()


class CaptureWriter:
    def __init__(self, settings: CaptureSettings, endpoint: str, s3: Any) -> None:
        self.settings = settings
        self.endpoint = endpoint
        self._s3 = s3
        self._pending: dict[str, list[tuple[dt.datetime, str]]] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._failed = False
        self._thread = threading.Thread(target=self._flush_periodically, name=f"capture-{endpoint}", daemon=True)
        self._thread.start()

    def offer(self, exchange: Exchange) -> None:
        """Keep the invocation if the sampling percentage picks it."""
        if not self.settings.enabled or random.uniform(0, 100) >= self.settings.percentage:
            return
        line = json.dumps(self.record(exchange), separators=(",", ":"))
        with self._lock:
            self._pending.setdefault(exchange.variant, []).append((exchange.at, line))

    def record(self, exchange: Exchange) -> dict[str, Any]:
        capture: dict[str, Any] = {}
        if self.settings.capture_input:
            capture["endpointInput"] = self._side(exchange.request_body, exchange.request_type, "INPUT")
        if self.settings.capture_output:
            capture["endpointOutput"] = self._side(exchange.response_body, exchange.response_type, "OUTPUT")
        metadata = {"eventId": str(uuid.uuid4()), "inferenceTime": exchange.at.strftime("%Y-%m-%dT%H:%M:%SZ")}
        if exchange.inference_id:
            metadata["inferenceId"] = exchange.inference_id
        return {"captureData": capture, "eventMetadata": metadata, "eventVersion": "0"}

    def _side(self, body: bytes, content_type: str, mode: str) -> dict[str, str]:
        kind = _media(content_type)
        if kind in {_media(item) for item in self.settings.csv_types}:
            encoding = "CSV"
        elif kind in {_media(item) for item in self.settings.json_types}:
            encoding = "JSON"
        else:
            encoding = "BASE64"
        data = base64.b64encode(body).decode() if encoding == "BASE64" else body.decode("utf-8", errors="replace")
        return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}

    def close(self, write: bool = True) -> None:
        """Write what is pending (unless the emulator is resetting) and stop."""
        if not write:
            with self._lock:
                self._pending = {}
        self._closed.set()
        self._thread.join(timeout=10)

    def _flush_periodically(self) -> None:
        while not self._closed.wait(FLUSH_INTERVAL):
            self.flush()
        self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for variant, records in pending.items():
            first = records[0][0]
            # The file name as SageMaker names it: the minute, second and millisecond of the first record.
            name = f"{first:%M-%S}-{first.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
            relative = f"{self.endpoint}/{variant}/{first:%Y/%m/%d/%H}/{name}"
            body = "".join(line + "\n" for _, line in records).encode()
            self._put(S3Uri.parse(self.settings.destination).child(relative), body)

    def _put(self, location: S3Uri, body: bytes) -> None:
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.settings.kms_key_id}
        try:
            self._s3.put_object(
                Bucket=location.bucket, Key=location.key, Body=body, **(extra if self.settings.kms_key_id else {})
            )
        except Exception as exc:  # a missing bucket or a denying policy loses the capture, never a request
            if not self._failed:
                self._failed = True
                announce(f"endpoint {self.endpoint}: could not write captured data to {location}: {exc}")

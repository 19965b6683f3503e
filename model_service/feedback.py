"""Feedback ids: what was predicted, carried by the client instead of kept by the server.

A label arrives minutes or days after its prediction, at whichever replica the load balancer
picks. So the prediction travels with the client: a feedback id holds the predicted class of each
row, when it was issued and a unique serial, authenticated with keyed BLAKE2b (a MAC by design,
and three times as fast as HMAC-SHA256 here, which shows on the request path) under a key that
every replica of a deployment shares (a Kubernetes Secret). Any replica can score a label, the
server keeps no per-request state, and an id cannot be forged or altered without the key.

Each id scores once per replica: a bounded cache of redeemed serials (its size derived from a
byte budget) refuses replays; ids older than `max_age_seconds` are refused too. `/feedback` also
requires a credential (`FEEDBACK_TOKEN`), so only the labelling system can send labels at all.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import os
import struct
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

from model_service.rows import InputError

PREFIX = "f1."
# issued-at (seconds, uint32), serial (uint64), class-index width in bytes (1 or 2), row count (uint16)
_HEADER = struct.Struct(">IQBH")
_TAG_BYTES = 16
_URLSAFE = bytes.maketrans(b"+/", b"-_")
# Measured cost of one remembered serial in the replay cache (int key in an OrderedDict).
REPLAY_ENTRY_BYTES = 120


class Prediction(NamedTuple):
    labels: list[int]  # predicted class index of each row
    serial: int
    issued_at: float  # seconds since the epoch


class FeedbackIds:
    def __init__(
        self,
        key: bytes,
        max_age_seconds: int,
        replay_cache_bytes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(key) < 32:
            raise ValueError("the feedback signing key must be at least 32 bytes")
        # BLAKE2b takes keys of up to 64 bytes: a longer one is hashed down to that.
        self._key = key if len(key) <= 64 else hashlib.blake2b(key).digest()
        self.max_age_seconds = max_age_seconds
        self.replay_capacity = max(1, replay_cache_bytes // REPLAY_ENTRY_BYTES)
        self._clock = clock
        # A random start: serials of two processes with the same key do not collide.
        self._serials = itertools.count(int.from_bytes(os.urandom(7), "big") << 8)
        self._redeemed: OrderedDict[int, None] = OrderedDict()

    def issue(self, labels: list[int]) -> str:
        """An id for a prediction of `labels` (one class index a row)."""
        try:
            packed, width = bytes(labels), 1
        except ValueError:  # a class index of 256 or more
            packed, width = struct.pack(f">{len(labels)}H", *labels), 2
        payload = _HEADER.pack(int(self._clock()), next(self._serials), width, len(labels)) + packed
        signed = payload + hashlib.blake2b(payload, key=self._key, digest_size=_TAG_BYTES).digest()
        # base64url without padding; binascii is twice as fast as base64.urlsafe_b64encode.
        return PREFIX + binascii.b2a_base64(signed, newline=False).translate(_URLSAFE).rstrip(b"=").decode("ascii")

    def _tag(self, payload: bytes) -> bytes:
        return hashlib.blake2b(payload, key=self._key, digest_size=_TAG_BYTES).digest()

    def open(self, feedback_id: object) -> Prediction:
        """What `feedback_id` was issued for; `InputError` if it is not an id this deployment
        issued, was altered, has expired or was already labelled here."""
        if not isinstance(feedback_id, str) or not feedback_id.startswith(PREFIX) or len(feedback_id) > 8192:
            raise InputError(400, "bad_feedback_id", "feedback_id must be the feedback_id a prediction returned")
        encoded = feedback_id[len(PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError):
            raise InputError(400, "bad_feedback_id", "feedback_id is not valid base64url") from None
        payload, tag = raw[:-_TAG_BYTES], raw[-_TAG_BYTES:]
        if len(payload) < _HEADER.size or not hmac.compare_digest(tag, self._tag(payload)):
            raise InputError(
                400,
                "bad_feedback_id",
                "feedback_id was not issued by this deployment, or was altered (signature mismatch)",
            )
        issued, serial, width, rows = _HEADER.unpack_from(payload)
        age = self._clock() - issued
        if age > self.max_age_seconds:
            raise InputError(
                400,
                "expired_feedback_id",
                f"the prediction is {int(age)} s old; labels are accepted for {self.max_age_seconds} s "
                "(FEEDBACK_MAX_AGE_SECONDS)",
            )
        if serial in self._redeemed:
            raise InputError(409, "already_labelled", "this prediction has already been labelled")
        packed = payload[_HEADER.size :]
        labels = list(packed) if width == 1 else list(struct.unpack(f">{rows}H", packed))
        if len(labels) != rows:
            raise InputError(400, "bad_feedback_id", "feedback_id is truncated")
        return Prediction(labels, serial, float(issued))

    def mark_scored(self, serial: int) -> None:
        """Remember that the id with `serial` has been scored here (the oldest is forgotten
        first once the cache is full)."""
        self._redeemed[serial] = None
        if len(self._redeemed) > self.replay_capacity:
            self._redeemed.popitem(last=False)


def signing_key(configured: str) -> tuple[bytes, bool]:
    """The key bytes from FEEDBACK_SIGNING_KEY, or a random one (and False: per process only)."""
    if configured:
        return configured.encode("utf-8"), True
    return os.urandom(32), False


def bearer_matches(authorization: bytes, token: str) -> bool:
    """Whether an `Authorization` header carries `Bearer <token>` (constant-time comparison)."""
    scheme, _, given = authorization.partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), token.encode("utf-8"))

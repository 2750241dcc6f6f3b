"""Why a viewer session could not be opened or found; the HTTP layer maps these to statuses."""

from __future__ import annotations


class StreamError(Exception):
    """Base: the message is safe to show to the viewer."""


class ViewerLimit(StreamError):
    """``stream.max_viewers`` sessions are open already."""


class BadOffer(StreamError):
    """The SDP offer could not be used (malformed, no video, nothing to receive)."""


class NoCommonCodec(BadOffer):
    """The offer lists none of the codecs the stream sends."""


class UnknownSession(StreamError):
    """No open session with that id on that camera."""


class StreamStopped(StreamError):
    """The stream service is not running."""

"""What the answer to an SSH-key upload or generation says (internal: a wire record)."""

import attrs

from gpcn_async.models._common import _redacted

__all__ = ["CreatedSshKey"]


@attrs.frozen
class CreatedSshKey:
    """The ``data`` of ``POST /resource/ssh-keys``: at least the new key's id.

    Attributes:
        id: the new key's id.
        name: its name, when the answer carries the whole key (else it is read back).
        private_key: the generated private key (a generation's answer only, else empty; a
            secret).
    """

    id: str
    name: str | None = None
    private_key: str = attrs.field(default="", repr=_redacted)

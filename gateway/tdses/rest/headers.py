"""The headers a write answers with (the API's routes and the middleware that replays their answers), and the
rules of the Idempotency-Key a write may be sent with (the middleware, and the command line that sends it)."""

import re

TRANSACTION_HEADER = "X-Transaction-Id"
BLOCK_HEADER = "X-Block-Number"  # every peer of the channel has committed this block when the answer comes

MAX_KEY_LENGTH = 255
# Answers that carry a secret (a new API token, an invitation) are never stored: secrets exist only as hashes here.
# Creating a user is safe to retry without a key anyway (an unfinished creation resumes, a finished one is 409);
# a retried invitation is a second invitation.
ISSUES_SECRETS = re.compile(r"^/v1/(users(/[^/]+/token)?|invitations)$")


def valid_key(key: str) -> bool:
    """An Idempotency-Key the gateway takes: 1 to MAX_KEY_LENGTH visible ASCII characters."""
    return 0 < len(key) <= MAX_KEY_LENGTH and all(0x21 <= ord(c) <= 0x7E for c in key)

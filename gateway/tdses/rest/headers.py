"""The headers a write answers with (the API's routes and the middleware that replays their answers)."""

TRANSACTION_HEADER = "X-Transaction-Id"
BLOCK_HEADER = "X-Block-Number"  # every peer of the channel has committed this block when the answer comes

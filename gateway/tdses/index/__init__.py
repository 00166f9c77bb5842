"""The registry index: a query model of the ledger in each organization's gateway, fed by the channel's blocks
and checked against the chaincode.

    store = IndexStore("index.db")                    # SQLite (FTS5), or a PostgreSQL URL
    follower = Follower(store, reader, "tdses")       # applies each block with its checkpoint, in one transaction
    await follower.wait_for_block(42, timeout=5)      # read-your-writes for a write answered in block 42
    store.search("weather forecast")

Modules: blocks (a block as the index sees it), schema (tables) and migrations/, projection (one block onto the
tables), store (the database: apply with checkpoint, queries), follower (the background task), verify (index ↔
chaincode), cli (`tdses index verify|rebuild`), settings (the gateway configuration's `index` key).
"""

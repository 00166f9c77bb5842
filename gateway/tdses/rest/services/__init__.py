"""What the routes do on behalf of a caller: the ledger, offline signing, onboarding at the CA and on chain, tokens and keys."""

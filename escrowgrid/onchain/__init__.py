"""The on-chain mirror: the EscrowLedger contract, its web3 client and the publisher."""

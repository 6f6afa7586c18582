"""The EscrowLedger contract through web3: deploy, record batches, anchor, read back."""

# One sender account. Nonces are counted here, starting from the node's *pending* count when the
# client is built, so a restart resumes after transactions still in the node's pool; a nonce
# refusal makes the next send ask the node again. The private key lives only inside the signing
# account: nothing here formats it, and reprs and errors name the sender's address alone.

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract

from escrowgrid.onchain.artifact import load_artifact


class ChainError(RuntimeError):
    """A node or contract failure; its message never holds the private key."""


class BatchTooLarge(ChainError):
    """The transaction needs more gas than a block holds: a smaller batch can still go."""


# How nodes word "more gas than a block holds" at the estimate or the send: anvil "gas required
# exceeds allowance: N", geth "gas required exceeds allowance (N)", pools "exceeds block gas
# limit". A revert (not the owner, an empty hash) or a node away says none of these.
_TOO_LARGE = ("exceeds allowance", "exceeds block gas limit", "exceeds the block gas limit")


@dataclass(frozen=True, slots=True)
class ChainEntry:
    """One event as the contract records it."""

    log_position: int
    event_hash: bytes
    position_id: str
    kind: str
    payload_json: str


@dataclass(frozen=True, slots=True)
class ChainRecord:
    event_hash: bytes
    position_id: str
    kind: str
    payload_json: str
    block_number: int


@dataclass(frozen=True, slots=True)
class Receipt:
    block_number: int
    block_hash: bytes
    succeeded: bool


class ChainClient:
    """A web3 connection, the sender account and (once deployed or given) the contract."""

    def __init__(self, w3: Web3, private_key: str, address: str | None = None) -> None:
        self.w3 = w3
        self._account = Account.from_key(private_key)
        self.sender: str = self._account.address
        self._nonce: int | None = None
        self._artifact = load_artifact()
        self._contract: Contract | None = None
        if address:
            self.use(address)

    @classmethod
    def connect(cls, rpc_url: str, private_key: str, address: str | None = None) -> ChainClient:
        """A client over JSON-RPC (HTTP) to `rpc_url`."""
        provider = Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 10})
        return cls(Web3(provider), private_key, address)

    def __repr__(self) -> str:
        address = self._contract.address if self._contract is not None else None
        return f"ChainClient(sender={self.sender}, contract={address})"

    @property
    def contract(self) -> Contract:
        if self._contract is None:
            raise ChainError("no contract address: deploy first or set ONCHAIN_CONTRACT_ADDRESS")
        return self._contract

    def use(self, address: str) -> None:
        self._contract = self.w3.eth.contract(
            address=Web3.to_checksum_address(address), abi=self._artifact.abi
        )

    def has_code(self) -> bool:
        """Whether the contract address holds code on this node's chain."""
        return len(self.w3.eth.get_code(self.contract.address)) > 0

    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    def head(self) -> int:
        return int(self.w3.eth.block_number)

    def block_gas_limit(self) -> int:
        """The gas the latest block may hold: no transaction can need more."""
        return int(self.w3.eth.get_block("latest")["gasLimit"])

    # -- sending ------------------------------------------------------------------------------

    def deploy(self) -> str:
        """Deploy EscrowLedger with this sender as owner; wait for it; return the address."""
        factory = self.w3.eth.contract(abi=self._artifact.abi, bytecode=self._artifact.bytecode)
        tx_hash = self._send(factory.constructor().build_transaction(self._base()))
        receipt = self.w3.eth.wait_for_transaction_receipt(HexBytes(tx_hash), timeout=60)
        if receipt["status"] != 1 or not receipt["contractAddress"]:
            raise ChainError("the contract deployment reverted")
        self.use(receipt["contractAddress"])
        return str(receipt["contractAddress"])

    def record_batch(self, entries: Sequence[ChainEntry]) -> bytes:
        """Send one transaction recording `entries` (one or many); return its hash."""
        if not entries:
            raise ValueError("an empty batch")
        if len(entries) == 1:
            e = entries[0]
            call = self.contract.functions.recordPositionEvent(
                e.log_position, e.event_hash, e.position_id, e.kind, e.payload_json
            )
        else:
            call = self.contract.functions.recordPositionEvents(
                [
                    (e.log_position, e.event_hash, e.position_id, e.kind, e.payload_json)
                    for e in entries
                ]
            )
        return self._build_and_send(call)

    def anchor(self, log_position: int, digest: bytes) -> bytes:
        """Send `anchorDigest(log_position, digest)`; return the transaction hash."""
        call = self.contract.functions.anchorDigest(log_position, digest)
        return self._build_and_send(call)

    def _build_and_send(self, call: Any) -> bytes:
        # Building estimates the gas, so a call the contract would refuse (not the owner) fails
        # here, before anything is signed or sent.
        try:
            tx = call.build_transaction(self._base())
            limit = self.block_gas_limit()
        except Exception as exc:
            self.resync_nonce()
            raise _refusal(exc, "the node refused the call") from None
        if int(tx["gas"]) > limit:  # a node that does not cap its estimate at the block
            raise BatchTooLarge(f"the call needs {tx['gas']} gas, over the block gas limit {limit}")
        return self._send(tx)

    def _base(self) -> dict[str, Any]:
        return {"from": self.sender, "nonce": self._next_nonce()}

    def _next_nonce(self) -> int:
        if self._nonce is None:
            self._nonce = int(self.w3.eth.get_transaction_count(self._account.address, "pending"))
        return self._nonce

    def resync_nonce(self) -> None:
        """Forget the counted nonce: the next send asks the node (after any send failure)."""
        self._nonce = None

    def _send(self, tx: dict[str, Any]) -> bytes:
        try:
            signed = self._account.sign_transaction(tx)
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        except Exception as exc:
            self.resync_nonce()
            raise _refusal(exc, f"sending from {self.sender} failed") from None
        self._nonce = int(tx["nonce"]) + 1
        return bytes(tx_hash)

    # -- reading ------------------------------------------------------------------------------

    def receipt(self, tx_hash: bytes) -> Receipt | None:
        """The transaction's receipt on the node's current chain, None when it has none."""
        try:
            found = self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except Exception as exc:
            if type(exc).__name__ == "TransactionNotFound":
                return None
            raise ChainError(f"reading a receipt failed: {_describe(exc)}") from None
        return Receipt(int(found["blockNumber"]), bytes(found["blockHash"]), found["status"] == 1)

    def record(self, log_position: int) -> ChainRecord | None:
        """What the contract holds for a log position (None when nothing)."""
        h, pid, kind, payload, block = self.contract.functions.getRecord(log_position).call()
        if bytes(h) == bytes(32):
            return None
        return ChainRecord(bytes(h), pid, kind, payload, int(block))

    def anchor_at(self, log_position: int) -> bytes | None:
        digest = bytes(self.contract.functions.getAnchor(log_position).call())
        return None if digest == bytes(32) else digest

    def record_count(self) -> int:
        return int(self.contract.functions.recordCount().call())

    def recorded_positions(self, from_block: int = 0) -> list[int]:
        """Log positions of every PositionEventRecorded event, in chain order."""
        logs = self.contract.events.PositionEventRecorded().get_logs(from_block=from_block)
        return [int(entry["args"]["logPosition"]) for entry in logs]

    def anchors(self, from_block: int = 0) -> list[tuple[int, bytes]]:
        """(log position, digest) of every DigestAnchored event, in chain order."""
        logs = self.contract.events.DigestAnchored().get_logs(from_block=from_block)
        return [(int(e["args"]["logPosition"]), bytes(e["args"]["digest"])) for e in logs]


def _refusal(exc: Exception, what: str) -> ChainError:
    """The node's refusal as a ChainError, a BatchTooLarge when it says the block is too small."""
    text = str(exc).lower()
    error = BatchTooLarge if any(words in text for words in _TOO_LARGE) else ChainError
    return error(f"{what}: {_describe(exc)}")


def _describe(exc: Exception) -> str:
    # The signed transaction and the key never go into the message: only the error's type and
    # the node's own text (a node answers about the transaction, never with the key).
    return f"{type(exc).__name__}: {str(exc)[:300]}"

"""EscrowLedger semantics and the web3 client on an in-process EVM (eth-tester), anvil for gas."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from eth_tester import EthereumTester  # type: ignore[import-untyped]
from web3 import EthereumTesterProvider, Web3

from escrowgrid.onchain.client import BatchTooLarge, ChainClient, ChainEntry, ChainError
from tests.support.anvil import ANVIL_KEY, Anvil

# anvil's second development account (public knowledge, like the first): not the owner
ANVIL_OTHER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"


@pytest.fixture
def chain() -> tuple[Web3, EthereumTester]:
    tester = EthereumTester()
    return Web3(EthereumTesterProvider(tester)), tester


def _key(tester: EthereumTester, index: int = 0) -> str:
    return str(tester.backend.account_keys[index])


def _entry(position: int, pid: str = "p-1", kind: str = "POSITION_CREATED") -> ChainEntry:
    return ChainEntry(position, position.to_bytes(32, "big"), pid, kind, f'{{"n":{position}}}')


def _mined(client: ChainClient, tx: bytes) -> None:
    client.w3.eth.wait_for_transaction_receipt(tx)  # type: ignore[arg-type]


def test_records_one_and_a_batch_and_reads_them_back(chain: tuple[Web3, EthereumTester]) -> None:
    w3, tester = chain
    client = ChainClient(w3, _key(tester))
    client.deploy()
    _mined(client, client.record_batch([_entry(1)]))
    _mined(client, client.record_batch([_entry(2, kind="POSITION_STATE_CHANGED"), _entry(5)]))
    assert client.record_count() == 3
    assert client.recorded_positions() == [1, 2, 5]
    two = client.record(2)
    assert two is not None
    assert (two.position_id, two.kind, two.payload_json) == (
        "p-1",
        "POSITION_STATE_CHANGED",
        '{"n":2}',
    )
    assert two.event_hash == (2).to_bytes(32, "big")
    assert client.record(3) is None


def test_a_resent_log_position_is_a_no_op_and_does_not_fail_the_batch(
    chain: tuple[Web3, EthereumTester],
) -> None:
    w3, tester = chain
    client = ChainClient(w3, _key(tester))
    client.deploy()
    _mined(client, client.record_batch([_entry(1), _entry(2)]))
    tx = client.record_batch([_entry(1, pid="other"), _entry(2), _entry(3)])
    _mined(client, tx)
    receipt = client.receipt(tx)
    assert receipt is not None and receipt.succeeded
    assert client.recorded_positions() == [1, 2, 3]  # no second event for 1 or 2
    first = client.record(1)
    assert first is not None and first.position_id == "p-1"


def test_anchors_are_recorded_once_and_read_back(chain: tuple[Web3, EthereumTester]) -> None:
    w3, tester = chain
    client = ChainClient(w3, _key(tester))
    client.deploy()
    _mined(client, client.anchor(10, b"\x01" * 32))
    _mined(client, client.anchor(10, b"\x02" * 32))
    assert client.anchor_at(10) == b"\x01" * 32
    assert client.anchor_at(11) is None
    assert client.anchors() == [(10, b"\x01" * 32)]


def test_only_the_owner_records(chain: tuple[Web3, EthereumTester]) -> None:
    w3, tester = chain
    owner = ChainClient(w3, _key(tester, 0))
    address = owner.deploy()
    stranger = ChainClient(w3, _key(tester, 1), address)
    with pytest.raises(ChainError):
        stranger.record_batch([_entry(1)])
    with pytest.raises(ChainError):
        stranger.anchor(1, b"\x01" * 32)
    assert owner.record_count() == 0


def test_a_new_client_for_the_same_sender_resumes_at_the_pending_nonce(
    chain: tuple[Web3, EthereumTester],
) -> None:
    w3, tester = chain
    first = ChainClient(w3, _key(tester))
    address = first.deploy()
    _mined(first, first.record_batch([_entry(1)]))
    restarted = ChainClient(w3, _key(tester), address)  # as after a process restart
    _mined(restarted, restarted.record_batch([_entry(2)]))
    with pytest.raises(ChainError):  # its count is stale: the node refuses the nonce
        first.record_batch([_entry(3)])
    _mined(first, first.record_batch([_entry(3)]))  # and the next send asks the node again
    assert restarted.recorded_positions() == [1, 2, 3]


def test_the_private_key_is_never_in_reprs_errors_or_logs(
    chain: tuple[Web3, EthereumTester], caplog: pytest.LogCaptureFixture
) -> None:
    w3, tester = chain
    key = _key(tester, 1)
    caplog.set_level(logging.DEBUG)
    owner = ChainClient(w3, _key(tester, 0))
    address = owner.deploy()
    stranger = ChainClient(w3, key, address)
    messages = [repr(stranger)]
    with pytest.raises(ChainError) as refused:
        stranger.record_batch([_entry(1)])
    messages.append(str(refused.value))
    messages.append(repr(refused.value))
    messages.extend(record.getMessage() for record in caplog.records)
    bare = key.removeprefix("0x").lower()
    assert all(bare not in m.lower() for m in messages)


def test_only_a_call_over_the_block_gas_limit_is_batch_too_large(tmp_path: Path) -> None:
    node = Anvil(tmp_path / "anvil.log", gas_limit=1_200_000).start()
    try:
        owner = ChainClient.connect(node.url, ANVIL_KEY)
        address = owner.deploy()
        big = [
            ChainEntry(p, p.to_bytes(32, "big"), "p-1", "POSITION_CREATED", "x" * 600)
            for p in range(1, 11)
        ]
        with pytest.raises(BatchTooLarge, match="exceeds allowance"):
            owner.record_batch(big)
        with pytest.raises(ChainError) as reverted:  # not the owner: a revert, however large
            ChainClient.connect(node.url, ANVIL_OTHER_KEY, address).record_batch(big)
        assert not isinstance(reverted.value, BatchTooLarge)
        _mined(owner, owner.record_batch(big[:1]))  # one event fits, the nonce was not spent
        node.stop()
        with pytest.raises(ChainError) as away:
            owner.record_batch(big[1:2])
        assert not isinstance(away.value, BatchTooLarge)
    finally:
        node.stop()

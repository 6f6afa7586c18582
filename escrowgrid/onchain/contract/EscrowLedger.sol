// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title EscrowLedger: an on-chain mirror of escrowgrid's event log.
/// @notice Each record carries the event's global log position and hash. A log position already
/// recorded is a silent no-op (no event, no revert), so a publisher that resends a batch after a
/// crash cannot create a duplicate and cannot fail the rest of the batch.
contract EscrowLedger {
    struct Record {
        bytes32 eventHash;
        string positionId;
        string kind;
        string payloadJson;
        uint64 blockNumber;
    }

    struct Entry {
        uint64 logPosition;
        bytes32 eventHash;
        string positionId;
        string kind;
        string payloadJson;
    }

    address public immutable owner;
    uint256 public recordCount;
    uint64 public lastAnchorPosition;

    mapping(uint64 => Record) private records;
    mapping(uint64 => bytes32) private anchors;

    event PositionEventRecorded(
        uint64 indexed logPosition,
        bytes32 eventHash,
        string positionId,
        string kind,
        string payloadJson
    );
    event DigestAnchored(uint64 indexed logPosition, bytes32 digest);

    error NotOwner();
    error EmptyHash();

    constructor() {
        owner = msg.sender;
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    function recordPositionEvent(
        uint64 logPosition,
        bytes32 eventHash,
        string calldata positionId,
        string calldata kind,
        string calldata payloadJson
    ) external onlyOwner {
        _record(logPosition, eventHash, positionId, kind, payloadJson);
    }

    function recordPositionEvents(Entry[] calldata entries) external onlyOwner {
        for (uint256 i = 0; i < entries.length; i++) {
            Entry calldata e = entries[i];
            _record(e.logPosition, e.eventHash, e.positionId, e.kind, e.payloadJson);
        }
    }

    function anchorDigest(uint64 logPosition, bytes32 digest) external onlyOwner {
        if (digest == bytes32(0)) revert EmptyHash();
        if (anchors[logPosition] != bytes32(0)) return;
        anchors[logPosition] = digest;
        if (logPosition > lastAnchorPosition) lastAnchorPosition = logPosition;
        emit DigestAnchored(logPosition, digest);
    }

    function isRecorded(uint64 logPosition) external view returns (bool) {
        return records[logPosition].eventHash != bytes32(0);
    }

    function getRecord(uint64 logPosition)
        external
        view
        returns (
            bytes32 eventHash,
            string memory positionId,
            string memory kind,
            string memory payloadJson,
            uint64 blockNumber
        )
    {
        Record storage r = records[logPosition];
        return (r.eventHash, r.positionId, r.kind, r.payloadJson, r.blockNumber);
    }

    function getAnchor(uint64 logPosition) external view returns (bytes32) {
        return anchors[logPosition];
    }

    function _record(
        uint64 logPosition,
        bytes32 eventHash,
        string calldata positionId,
        string calldata kind,
        string calldata payloadJson
    ) private {
        if (eventHash == bytes32(0)) revert EmptyHash();
        if (records[logPosition].eventHash != bytes32(0)) return;
        records[logPosition] = Record(
            eventHash, positionId, kind, payloadJson, uint64(block.number)
        );
        recordCount += 1;
        emit PositionEventRecorded(logPosition, eventHash, positionId, kind, payloadJson);
    }
}

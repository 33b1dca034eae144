"""Kafka's errors, by the names Kafka users meet them.

Each class carries the Java client's exception name (``java_name``), the protocol error code
where there is one (``code``, from ``org.apache.kafka.common.protocol.Errors``) and whether the
Java producer/consumer retries it by itself (``retriable``, i.e. it extends
``RetriableException``). The Python class names follow kafka-python (``KafkaError``,
``KafkaTimeoutError``, ``OffsetOutOfRangeError``, …) so that people who know that client feel at
home; ``str(err)`` starts with the Java name so a trace or a report reads like a broker log.
"""

from __future__ import annotations


class KafkaError(Exception):
    """Base of every Kafka error in brokersim."""

    java_name: str = "KafkaException"
    code: int = -1
    retriable: bool = False

    def __str__(self) -> str:
        detail = super().__str__()
        return f"{self.java_name}: {detail}" if detail else self.java_name


class KafkaConfigError(KafkaError, ValueError):
    """A configuration name or value is wrong (Java ``ConfigException``); raised before a run."""

    java_name = "ConfigException"


class InvalidConfigurationError(KafkaError, ValueError):
    """A client configuration is inconsistent (Java ``InvalidConfigurationException``)."""

    java_name = "InvalidConfigurationException"
    code = 40


class OffsetOutOfRangeError(KafkaError):
    """A fetch offset lies below the log start offset or above the log end offset."""

    java_name = "OffsetOutOfRangeException"
    code = 1

    def __init__(self, message: str = "", *, partition: object = None, offset: int = -1,
                 log_start_offset: int = -1, log_end_offset: int = -1) -> None:
        super().__init__(message)
        self.partition = partition
        self.offset = offset
        self.log_start_offset = log_start_offset
        self.log_end_offset = log_end_offset


class NoOffsetForPartitionError(KafkaError):
    """No committed offset and ``auto.offset.reset=none`` (``NoOffsetForPartitionException``)."""

    java_name = "NoOffsetForPartitionException"


class CorruptRecordError(KafkaError):
    java_name = "CorruptRecordException"
    code = 2
    retriable = True


class UnknownTopicOrPartitionError(KafkaError):
    java_name = "UnknownTopicOrPartitionException"
    code = 3
    retriable = True


class LeaderNotAvailableError(KafkaError):
    java_name = "LeaderNotAvailableException"
    code = 5
    retriable = True


class NotLeaderOrFollowerError(KafkaError):
    java_name = "NotLeaderOrFollowerException"
    code = 6
    retriable = True


class KafkaTimeoutError(KafkaError):
    """A request or a record's ``delivery.timeout.ms`` ran out (Java ``TimeoutException``)."""

    java_name = "TimeoutException"
    code = 7
    retriable = True


class RecordTooLargeError(KafkaError):
    """A record (or batch) is larger than ``max.request.size`` / ``message.max.bytes``."""

    java_name = "RecordTooLargeException"
    code = 10


class NetworkError(KafkaError):
    java_name = "NetworkException"
    code = 13
    retriable = True


class RecordBatchTooLargeError(KafkaError):
    """A batch is larger than the topic's ``segment.bytes`` (error RECORD_LIST_TOO_LARGE)."""

    java_name = "RecordBatchTooLargeException"
    code = 18


class NotEnoughReplicasError(KafkaError):
    """``acks=all`` and the ISR is smaller than ``min.insync.replicas``; nothing was appended."""

    java_name = "NotEnoughReplicasException"
    code = 19
    retriable = True


class NotEnoughReplicasAfterAppendError(KafkaError):
    java_name = "NotEnoughReplicasAfterAppendException"
    code = 20
    retriable = True


class IllegalGenerationError(KafkaError):
    java_name = "IllegalGenerationException"
    code = 22


class UnknownMemberIdError(KafkaError):
    java_name = "UnknownMemberIdException"
    code = 25


class RebalanceInProgressError(KafkaError):
    java_name = "RebalanceInProgressException"
    code = 27


class TopicExistsError(KafkaError):
    java_name = "TopicExistsException"
    code = 36


class InvalidPartitionsError(KafkaError):
    java_name = "InvalidPartitionsException"
    code = 37


class InvalidReplicationFactorError(KafkaError):
    java_name = "InvalidReplicationFactorException"
    code = 38


class OutOfOrderSequenceError(KafkaError):
    """The broker saw a gap in an idempotent producer's sequence numbers."""

    java_name = "OutOfOrderSequenceException"
    code = 45


class InvalidRecordError(KafkaError):
    """E.g. a record without a key on a compacted topic (Java ``InvalidRecordException``)."""

    java_name = "InvalidRecordException"
    code = 87


class CommitFailedError(KafkaError):
    java_name = "CommitFailedException"


class IllegalStateError(KafkaError):
    java_name = "IllegalStateException"


class BufferExhaustedError(KafkaTimeoutError):
    """``buffer.memory`` stayed full for ``max.block.ms``."""

    java_name = "BufferExhaustedException"


ERRORS_BY_NAME: dict[str, type[KafkaError]] = {
    cls.java_name: cls
    for cls in (
        KafkaError, KafkaConfigError, InvalidConfigurationError, OffsetOutOfRangeError,
        NoOffsetForPartitionError, CorruptRecordError, UnknownTopicOrPartitionError,
        LeaderNotAvailableError, NotLeaderOrFollowerError, KafkaTimeoutError,
        RecordTooLargeError, NetworkError, RecordBatchTooLargeError, NotEnoughReplicasError,
        NotEnoughReplicasAfterAppendError, IllegalGenerationError, UnknownMemberIdError,
        RebalanceInProgressError, TopicExistsError, InvalidPartitionsError,
        InvalidReplicationFactorError, OutOfOrderSequenceError, InvalidRecordError,
        CommitFailedError, IllegalStateError, BufferExhaustedError,
    )
}
"""Error class by its Java exception name (``"NotEnoughReplicasException"`` → class)."""

//! The stamp every benchmark message carries in its first 16 bytes, so that a subscriber can
//! measure latency and prove delivery without any per-message bookkeeping shared with the
//! publisher: bytes 0..8 hold the send time (nanoseconds since the run's shared start
//! `Instant`, little endian), bytes 8..16 hold the publisher id (16 bits) above the publisher's
//! sequence number (48 bits). The rest of the payload is filler.

use bytes::{BufMut, Bytes, BytesMut};

/// Bytes at the start of every payload taken by the stamp; the smallest `--size` allowed.
pub const STAMP_LEN: usize = 16;
/// Sequence numbers fit in the low 48 bits of the second word.
pub const MAX_SEQUENCE: u64 = (1 << 48) - 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Nanoseconds since the run's start: the scheduled send time under `--rate`, else the
    /// moment the message was handed to the client.
    pub sent_ns: u64,
    pub publisher: u16,
    /// 0-based, per publisher.
    pub sequence: u64,
}

impl Stamp {
    pub fn encode(&self) -> [u8; STAMP_LEN] {
        let mut out = [0u8; STAMP_LEN];
        out[..8].copy_from_slice(&self.sent_ns.to_le_bytes());
        let id = (u64::from(self.publisher) << 48) | (self.sequence & MAX_SEQUENCE);
        out[8..].copy_from_slice(&id.to_le_bytes());
        out
    }

    /// None when the payload is too short to hold a stamp (not a benchmark message).
    pub fn decode(payload: &[u8]) -> Option<Stamp> {
        let sent_ns = u64::from_le_bytes(payload.get(..8)?.try_into().ok()?);
        let id = u64::from_le_bytes(payload.get(8..STAMP_LEN)?.try_into().ok()?);
        Some(Stamp {
            sent_ns,
            publisher: (id >> 48) as u16,
            sequence: id & MAX_SEQUENCE,
        })
    }
}

/// Builds stamped payloads of one size out of a shared buffer, so that a publisher allocates
/// once per [`MESSAGES_PER_ALLOCATION`] messages rather than once per message.
#[derive(Debug)]
pub struct PayloadWriter {
    size: usize,
    buffer: BytesMut,
}

/// Small enough for the allocator to serve from memory it already has (a profile showed
/// 512 KiB buffers, 4096 messages, coming from fresh mmaps: a page fault every 32 messages),
/// and for the client, which drops each payload once written, to be done with the buffer's
/// reference count while the publisher already fills the next one.
const MESSAGES_PER_ALLOCATION: usize = 64;

impl PayloadWriter {
    /// `size` must be at least [`STAMP_LEN`]; options validation guarantees it.
    pub fn new(size: usize) -> Self {
        PayloadWriter {
            size: size.max(STAMP_LEN),
            buffer: BytesMut::new(),
        }
    }

    pub fn next(&mut self, stamp: Stamp) -> Bytes {
        if self.buffer.capacity() < self.size {
            self.buffer = BytesMut::with_capacity(self.size * MESSAGES_PER_ALLOCATION);
        }
        self.buffer.put_slice(&stamp.encode());
        self.buffer.put_bytes(b'.', self.size - STAMP_LEN);
        self.buffer.split().freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trips() {
        let stamp = Stamp {
            sent_ns: 123_456_789_012,
            publisher: 65_535,
            sequence: MAX_SEQUENCE,
        };
        assert_eq!(Stamp::decode(&stamp.encode()), Some(stamp));
        let zero = Stamp {
            sent_ns: 0,
            publisher: 0,
            sequence: 0,
        };
        assert_eq!(Stamp::decode(&zero.encode()), Some(zero));
    }

    #[test]
    fn short_payload_has_no_stamp() {
        assert_eq!(Stamp::decode(&[0u8; 15]), None);
        assert_eq!(Stamp::decode(b""), None);
    }

    #[test]
    fn writer_makes_payloads_of_the_requested_size_with_their_own_stamp() {
        let mut writer = PayloadWriter::new(128);
        let payloads: Vec<Bytes> = (0..10_000u64)
            .map(|sequence| {
                writer.next(Stamp {
                    sent_ns: sequence * 10,
                    publisher: 7,
                    sequence,
                })
            })
            .collect();
        for (sequence, payload) in payloads.iter().enumerate() {
            assert_eq!(payload.len(), 128);
            let stamp = Stamp::decode(payload).unwrap();
            assert_eq!(stamp.sequence, sequence as u64);
            assert_eq!(stamp.sent_ns, sequence as u64 * 10);
            assert_eq!(stamp.publisher, 7);
        }
    }

    #[test]
    fn writer_never_goes_below_the_stamp() {
        let mut writer = PayloadWriter::new(4);
        assert_eq!(
            writer
                .next(Stamp {
                    sent_ns: 1,
                    publisher: 1,
                    sequence: 1
                })
                .len(),
            STAMP_LEN
        );
    }
}

//! The queue between `pcaplens live`'s capture thread and its analysis: a
//! fixed pool of packet batches, allocated and touched once at the start.
//!
//! Why batches from a pool rather than one allocation per packet: the memory
//! of the queue is the pool, whatever the traffic does (a backlog cannot
//! grow the heap, and the resident size is the same at the start as after
//! hours); the capture thread copies packets into memory that is already
//! there instead of calling the allocator per packet; and one hand-over
//! carries many packets when the analysis is busy. When no batch is free the
//! packet is dropped and counted (never buffered beyond the pool).
//!
//! Latency: a batch is handed over when it is full or when its first packet
//! has waited [`MAX_HOLD`]. (Handing packets over one by one whenever the
//! analysis was idle looked better and was not: a burst then went out as
//! hundreds of one-packet batches before the analysis woke, the pool ran
//! dry and most of an nmap scan on loopback was dropped.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes of packet data a batch holds (one packet of the largest snapshot
/// length, 262,144 bytes, fits an empty batch).
pub const BATCH_BYTES: usize = 256 << 10;
/// Packets a batch holds at most (128 bytes a packet on average fill it;
/// smaller packets end a batch early).
const BATCH_PACKETS: usize = 2048;
/// The longest a packet waits in a batch that is not full.
pub const MAX_HOLD: Duration = Duration::from_millis(5);

/// One packet in a batch: its header and where its bytes are.
#[derive(Clone, Copy)]
struct Record {
    ts: i64,
    link: u32,
    orig_len: u32,
    /// Offset and length in the batch's bytes (u32: a batch is far smaller
    /// than 4 GiB, and the records stay at 24 bytes).
    start: u32,
    len: u32,
}

/// Packets, their bytes side by side in one buffer.
pub struct Batch {
    /// Always at its full length (touched once); `used` says how much holds data.
    bytes: Vec<u8>,
    used: usize,
    records: Vec<Record>,
}

/// A packet as the analysis reads it from a batch.
pub struct PacketRef<'a> {
    pub ts: i64,
    pub link: u32,
    pub orig_len: u32,
    pub data: &'a [u8],
}

impl Batch {
    fn new() -> Self {
        // Written, not only reserved: the pages are resident from the start,
        // so the process's size does not creep up as the queue is first used.
        let blank = Record {
            ts: 0,
            link: 0,
            orig_len: 0,
            start: 0,
            len: 0,
        };
        // Written then emptied: the capacity stays, resident too.
        let mut records = vec![blank; BATCH_PACKETS];
        records.clear();
        Batch {
            bytes: vec![0x5a; BATCH_BYTES],
            used: 0,
            records,
        }
    }

    fn fits(&self, len: usize) -> bool {
        self.records.len() < BATCH_PACKETS && self.used + len <= self.bytes.len()
    }

    /// Add a packet; the caller checked [`Batch::fits`], except for a packet
    /// larger than an empty batch (a replayed file's), which grows this batch.
    fn push(&mut self, ts: i64, link: u32, orig_len: u32, data: &[u8]) {
        let end = self.used + data.len();
        if end > self.bytes.len() {
            self.bytes.resize(end, 0);
        }
        self.bytes[self.used..end].copy_from_slice(data);
        self.records.push(Record {
            ts,
            link,
            orig_len,
            start: self.used as u32,
            len: data.len() as u32,
        });
        self.used = end;
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn packet(&self, i: usize) -> PacketRef<'_> {
        let r = self.records[i];
        PacketRef {
            ts: r.ts,
            link: r.link,
            orig_len: r.orig_len,
            data: &self.bytes[r.start as usize..(r.start + r.len) as usize],
        }
    }

    fn clear(&mut self) {
        self.used = 0;
        self.records.clear();
        // A batch grown by an oversized packet goes back to its size.
        self.bytes.truncate(BATCH_BYTES);
        self.bytes.shrink_to(BATCH_BYTES);
    }
}

/// What the capture thread hands to the analysis, in order.
pub enum Msg {
    Batch(Batch),
    /// libpcap's counters (u32, widened by the receiver).
    Stats(pcap::Stat),
    /// The source ended (a replayed file's end, or a capture error).
    End(Option<String>),
}

/// The capture thread's end.
pub struct Producer {
    tx: SyncSender<Msg>,
    free: Receiver<Batch>,
    current: Option<Batch>,
    /// When the first packet of `current` was added.
    first_at: Option<Instant>,
    drops: Arc<AtomicU64>,
}

/// The analysis's end.
pub struct Consumer {
    rx: Receiver<Msg>,
    free: Sender<Batch>,
}

/// A queue of about `bytes` bytes of packets (at least two batches). Returns
/// both ends and the counter of packets dropped for want of room.
pub fn queue(bytes: usize) -> (Producer, Consumer, Arc<AtomicU64>) {
    let batches = (bytes / BATCH_BYTES).max(2);
    // Room for every batch plus counters and the end: sending never blocks on
    // batches, which cannot outnumber the pool.
    let (tx, rx) = sync_channel(batches + 16);
    let (free_tx, free_rx) = channel();
    for _ in 0..batches {
        free_tx.send(Batch::new()).expect("both ends are here");
    }
    let drops = Arc::new(AtomicU64::new(0));
    let producer = Producer {
        tx,
        free: free_rx,
        current: None,
        first_at: None,
        drops: Arc::clone(&drops),
    };
    let consumer = Consumer { rx, free: free_tx };
    (producer, consumer, drops)
}

impl Producer {
    /// Add a packet, or count it dropped when no batch has room. False when
    /// the analysis has gone.
    pub fn offer(&mut self, ts: i64, link: u32, orig_len: u32, data: &[u8]) -> bool {
        if !self.make_room(data.len(), false) {
            return false;
        }
        match &mut self.current {
            Some(b) => {
                b.push(ts, link, orig_len, data);
                self.first_at.get_or_insert_with(Instant::now);
                self.flush_if_due()
            }
            None => {
                self.drops.fetch_add(1, Ordering::Relaxed);
                true
            }
        }
    }

    /// Add a packet, waiting for a free batch when there is none (a file
    /// replayed at full speed: nothing is dropped). False when the analysis
    /// has gone.
    pub fn push_wait(&mut self, ts: i64, link: u32, orig_len: u32, data: &[u8]) -> bool {
        if !self.make_room(data.len(), true) {
            return false;
        }
        match &mut self.current {
            Some(b) => {
                b.push(ts, link, orig_len, data);
                self.first_at.get_or_insert_with(Instant::now);
                true
            }
            None => false,
        }
    }

    /// Hand the current batch over if its first packet has waited long
    /// enough. False when the analysis has gone.
    pub fn flush_if_due(&mut self) -> bool {
        let due = self.first_at.is_some_and(|t| t.elapsed() >= MAX_HOLD);
        !due || self.flush()
    }

    /// How long the current batch may still wait (None: nothing waits).
    pub fn hold_left(&self) -> Option<Duration> {
        self.first_at.map(|t| MAX_HOLD.saturating_sub(t.elapsed()))
    }

    /// Hand the current batch over (if it holds packets). False when the
    /// analysis has gone.
    pub fn flush(&mut self) -> bool {
        self.first_at = None;
        match self.current.take() {
            Some(b) if !b.is_empty() => self.tx.send(Msg::Batch(b)).is_ok(),
            keep => {
                self.current = keep;
                true
            }
        }
    }

    /// Counters or the end, after the packets before them. Waits for room.
    pub fn send(&mut self, msg: Msg) -> bool {
        self.flush() && self.tx.send(msg).is_ok()
    }

    /// Make `current` a batch with room for `len` bytes: hand a full one
    /// over and take a free one (waiting for it with `wait`). Leaves `current`
    /// empty when no batch is free. False when the analysis has gone.
    fn make_room(&mut self, len: usize, wait: bool) -> bool {
        if let Some(b) = &self.current {
            if b.fits(len) || (b.is_empty() && len > BATCH_BYTES) {
                return true;
            }
            if !self.flush() {
                return false;
            }
        }
        self.current = if wait {
            match self.free.recv() {
                Ok(b) => Some(b),
                Err(_) => return false,
            }
        } else {
            self.free.try_recv().ok()
        };
        true
    }
}

impl Consumer {
    /// The next message, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Msg, RecvTimeoutError> {
        self.rx.recv_timeout(timeout)
    }

    /// A batch read through goes back to the pool.
    pub fn recycle(&self, mut batch: Batch) {
        batch.clear();
        // The capture thread may have gone; the batch is then freed.
        let _ = self.free.send(batch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_arrive_in_order_and_a_full_pool_drops_and_counts() {
        let (mut p, c, drops) = queue(2 * BATCH_BYTES);
        let pkt = vec![7u8; 100_000];
        // Two batches of two 100 kB packets each; the fifth packet finds no room.
        for i in 0..5 {
            assert!(p.offer(i, 1, 100_000, &pkt));
        }
        assert!(p.flush());
        assert_eq!(drops.load(Ordering::Relaxed), 1);
        let mut seen = Vec::new();
        while let Ok(Msg::Batch(b)) = c.recv_timeout(Duration::from_millis(10)) {
            for i in 0..b.len() {
                let r = b.packet(i);
                assert_eq!(r.data.len(), 100_000);
                seen.push(r.ts);
            }
            c.recycle(b);
        }
        assert_eq!(seen, vec![0, 1, 2, 3]);
        // Recycled batches take packets again.
        assert!(p.offer(9, 1, 3, b"abc"));
        assert!(p.send(Msg::End(None)));
        match c.recv_timeout(Duration::from_millis(10)) {
            Ok(Msg::Batch(b)) => assert_eq!(b.packet(0).data, b"abc"),
            _ => panic!("expected the batch before the end"),
        }
        assert!(matches!(
            c.recv_timeout(Duration::from_millis(10)),
            Ok(Msg::End(None))
        ));
    }

    #[test]
    fn an_oversized_packet_gets_a_batch_of_its_own() {
        let (mut p, c, drops) = queue(2 * BATCH_BYTES);
        let big = vec![1u8; BATCH_BYTES + 10];
        assert!(p.push_wait(1, 1, big.len() as u32, b"x"));
        assert!(p.push_wait(2, 1, big.len() as u32, &big));
        assert!(p.flush());
        let mut sizes = Vec::new();
        while let Ok(Msg::Batch(b)) = c.recv_timeout(Duration::from_millis(10)) {
            sizes.extend((0..b.len()).map(|i| b.packet(i).data.len()));
            c.recycle(b);
        }
        assert_eq!(sizes, vec![1, BATCH_BYTES + 10]);
        assert_eq!(drops.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn the_producer_sees_a_gone_analysis() {
        let (mut p, c, _) = queue(2 * BATCH_BYTES);
        drop(c);
        assert!(!p.send(Msg::End(None)));
    }
}

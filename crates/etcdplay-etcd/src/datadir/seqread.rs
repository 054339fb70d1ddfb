//! Sequential, block-buffered reading of one file through a [`DataDirSource`]. WAL frames are
//! small (often tens of bytes); asking the source for each one would be a syscall, or a
//! network round trip for a remote source, per record. This reader fetches `block` bytes at a
//! time and hands out slices, growing its buffer only for records larger than a block. The first
//! read is small and each next one doubles up to `block`: a young member's WAL holds a few KB in
//! a segment preallocated to 64 MB, and reading a full 8 MiB block of zeros over SSH on every
//! run would cost more than all the other tasks of a no-change run together.

use super::source::{DataDirSource, SourceError};

/// The first read of a file: enough for a young WAL segment's records.
const FIRST_READ: usize = 64 * 1024;

/// A forward-only reader over one file.
pub(crate) struct SeqReader<'s> {
    src: &'s dyn DataDirSource,
    path: &'s str,
    size: u64,
    block: usize,
    /// The size of the next read: starts at [`FIRST_READ`] and doubles up to `block`.
    next_read: usize,
    /// Storage; only `buf[lo..hi]` holds file bytes, those at offsets `pos..`.
    buf: Vec<u8>,
    lo: usize,
    hi: usize,
    /// Current file offset (the offset of `buf[lo]`).
    pos: u64,
}

impl<'s> SeqReader<'s> {
    pub(crate) fn new(src: &'s dyn DataDirSource, path: &'s str, size: u64, block: usize) -> Self {
        Self {
            src,
            path,
            size,
            block: block.max(4096),
            next_read: FIRST_READ.min(block.max(4096)),
            buf: Vec::new(),
            lo: 0,
            hi: 0,
            pos: 0,
        }
    }

    /// The current file offset.
    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    /// Bytes left before end of file.
    pub(crate) fn remaining(&self) -> u64 {
        self.size.saturating_sub(self.pos)
    }

    /// Returns the next `n` bytes, or `Ok(None)` if the file has fewer than `n` left.
    pub(crate) fn take(&mut self, n: usize) -> Result<Option<&[u8]>, SourceError> {
        if (n as u64) > self.remaining() {
            return Ok(None);
        }
        if self.hi - self.lo < n {
            self.refill(n)?;
            if self.hi - self.lo < n {
                return Ok(None); // the file shrank while we read it
            }
        }
        let start = self.lo;
        self.lo += n;
        self.pos += n as u64;
        Ok(Some(&self.buf[start..start + n]))
    }

    /// Makes the buffer hold at least `need` bytes from `pos`, keeping the unread bytes
    /// already buffered so every byte of the file is fetched once.
    fn refill(&mut self, need: usize) -> Result<(), SourceError> {
        self.buf.copy_within(self.lo..self.hi, 0);
        self.hi -= self.lo;
        self.lo = 0;
        let want = need.max(self.next_read) as u64;
        self.next_read = (self.next_read * 2).min(self.block);
        let want = usize::try_from(want.min(self.remaining())).unwrap_or(need);
        if self.buf.len() < want {
            // Grows only for records bigger than any seen so far; never shrinks.
            self.buf.resize(want, 0);
        }
        let at = self.pos + self.hi as u64;
        let got = self
            .src
            .read_at(self.path, at, &mut self.buf[self.hi..want])?;
        self.hi += got;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datadir::source::MemDir;
    use std::cell::Cell;

    /// Counts the bytes handed out by the wrapped source.
    struct Counted<'a>(&'a MemDir, &'a Cell<u64>);

    impl DataDirSource for Counted<'_> {
        fn list_dir(&self, dir: &str) -> Result<Option<Vec<String>>, SourceError> {
            self.0.list_dir(dir)
        }
        fn file_size(&self, path: &str) -> Result<u64, SourceError> {
            self.0.file_size(path)
        }
        fn read_at(&self, path: &str, off: u64, buf: &mut [u8]) -> Result<usize, SourceError> {
            let n = self.0.read_at(path, off, buf)?;
            self.1.set(self.1.get() + n as u64);
            Ok(n)
        }
    }

    /// Regression: with an 8 MiB block every no-change run pulled 8 MB of a young member's
    /// preallocated WAL over SSH. Reads now start small and double.
    #[test]
    fn a_few_records_cost_one_small_read_whatever_the_block() {
        let mut d = MemDir::new();
        d.insert("wal", vec![7u8; 4 << 20]);
        let counted = Cell::new(0);
        let src = Counted(&d, &counted);
        let mut r = SeqReader::new(&src, "wal", 4 << 20, 8 << 20);
        assert!(r.take(100).unwrap().is_some());
        assert_eq!(counted.get(), FIRST_READ as u64);
        // Reading on doubles each time: the whole file still takes only a few reads.
        while r.take(4096).unwrap().is_some() {}
        assert_eq!(counted.get(), 4 << 20);
    }

    #[test]
    fn hands_out_consecutive_slices_across_blocks() {
        let mut d = MemDir::new();
        let bytes: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        d.insert("f", bytes.clone());
        let counted = Cell::new(0);
        let src = Counted(&d, &counted);
        let mut r = SeqReader::new(&src, "f", bytes.len() as u64, 4096);
        let mut got = Vec::new();
        for n in [1usize, 4095, 3, 5000, 901] {
            got.extend_from_slice(r.take(n).unwrap().unwrap());
        }
        assert_eq!(got, bytes);
        assert_eq!(r.remaining(), 0);
        assert_eq!(
            counted.get(),
            bytes.len() as u64,
            "each byte is fetched once"
        );
        assert!(r.take(1).unwrap().is_none());
    }
}

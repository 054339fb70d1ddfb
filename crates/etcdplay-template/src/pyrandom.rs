//! Python's `random.Random`, reproduced: a Mersenne Twister seeded the way CPython 3 seeds it
//! (an int's 32-bit words, a string's UTF-8 bytes followed by their SHA-512), and the same draws
//! for `randrange`, `choice` and `shuffle`. Ansible's `random(seed=...)`, `shuffle(seed=...)` and
//! `lookup('password', ... seed=...)` therefore give the same results as under Ansible. Without a
//! seed the generator is seeded from the operating system (`/dev/urandom`), as `SystemRandom`.

use std::io::Read;

use rand_mt::Mt;
use sha2::{Digest, Sha512};

/// Why a draw cannot be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RandomError {
    #[error("empty range for randrange({start}, {stop}, {step})")]
    EmptyRange { start: i64, stop: i64, step: i64 },
    #[error("zero step for randrange()")]
    ZeroStep,
    #[error("Cannot choose from an empty sequence")]
    EmptySequence,
    #[error("cannot read random bytes from the operating system: {0}")]
    Os(#[source] std::io::Error),
}

/// A seed as Python's `random.seed` accepts it.
#[derive(Debug, Clone)]
pub(crate) enum Seed {
    Int(i128),
    Text(String),
}

/// One generator, Python's algorithm.
pub(crate) struct PyRandom {
    mt: Mt,
}

impl PyRandom {
    /// `random.Random(seed)`.
    pub(crate) fn seeded(seed: &Seed) -> Self {
        let words = match seed {
            Seed::Int(n) => int_words(&n.unsigned_abs().to_be_bytes()),
            Seed::Text(text) => {
                // Python 3 (seed version 2): int.from_bytes(text + sha512(text), 'big').
                let mut bytes = text.as_bytes().to_vec();
                bytes.extend_from_slice(&Sha512::digest(text.as_bytes()));
                int_words(&bytes)
            }
        };
        PyRandom {
            mt: Mt::new_with_key(words),
        }
    }

    /// An unpredictable generator (`SystemRandom`'s role): 624 words from the OS.
    pub(crate) fn from_os() -> Result<Self, RandomError> {
        let mut bytes = vec![0u8; 624 * 4];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .map_err(RandomError::Os)?;
        let words: Vec<u32> = bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok(PyRandom {
            mt: Mt::new_with_key(words),
        })
    }

    /// `getrandbits(k)` for `k <= 64`: words least significant first, the last one truncated.
    fn getrandbits(&mut self, k: u32) -> u64 {
        if k <= 32 {
            return u64::from(self.mt.next_u32() >> (32 - k));
        }
        let low = u64::from(self.mt.next_u32());
        let high = u64::from(self.mt.next_u32() >> (64 - k));
        low | (high << 32)
    }

    /// `_randbelow(n)`: rejection sampling on `n.bit_length()` bits.
    fn randbelow(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let k = 64 - n.leading_zeros();
        loop {
            let r = self.getrandbits(k);
            if r < n {
                return r;
            }
        }
    }

    /// `randrange(start, stop, step)`.
    pub(crate) fn randrange(
        &mut self,
        start: i64,
        stop: i64,
        step: i64,
    ) -> Result<i64, RandomError> {
        let empty = RandomError::EmptyRange { start, stop, step };
        let width = i128::from(stop) - i128::from(start);
        let step128 = i128::from(step);
        let n = match step.cmp(&0) {
            std::cmp::Ordering::Equal => return Err(RandomError::ZeroStep),
            std::cmp::Ordering::Greater => (width + step128 - 1).div_euclid(step128),
            std::cmp::Ordering::Less => (width + step128 + 1).div_euclid(step128),
        };
        if n <= 0 {
            return Err(empty);
        }
        let n = u64::try_from(n).map_err(|_| RandomError::EmptyRange { start, stop, step })?;
        let drawn = i128::from(self.randbelow(n));
        i64::try_from(i128::from(start) + step128 * drawn).map_err(|_| empty)
    }

    /// The index `choice(seq)` picks in a sequence of `len` items.
    pub(crate) fn choice_index(&mut self, len: usize) -> Result<usize, RandomError> {
        if len == 0 {
            return Err(RandomError::EmptySequence);
        }
        Ok(self.randbelow(len as u64) as usize)
    }

    /// `shuffle(items)` in place (Fisher-Yates from the end, as CPython).
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.randbelow(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// The 32-bit words of a non-negative big-endian integer, least significant first, without
/// high zero words (CPython's `init_by_array` key; zero is one zero word).
fn int_words(big_endian: &[u8]) -> Vec<u32> {
    let mut words: Vec<u32> = big_endian
        .rchunks(4)
        .map(|chunk| chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
        .collect();
    while words.len() > 1 && words.last() == Some(&0) {
        words.pop();
    }
    if words.is_empty() {
        words.push(0);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_words_are_least_significant_first() {
        assert_eq!(int_words(&[0, 0, 0, 1, 0, 0, 0, 2]), vec![2, 1]);
        assert_eq!(int_words(&[0; 16]), vec![0]);
        assert_eq!(int_words(&[1, 2, 3, 4, 5]), vec![0x0203_0405, 1]);
    }

    #[test]
    fn matches_cpython_for_int_seeds() {
        // python3 -c 'import random; r=random.Random(42); print([r.randrange(0,100) for _ in range(5)])'
        // [81, 14, 3, 94, 35]
        let mut r = PyRandom::seeded(&Seed::Int(42));
        let drawn: Vec<i64> = (0..5).map(|_| r.randrange(0, 100, 1).unwrap()).collect();
        assert_eq!(drawn, vec![81, 14, 3, 94, 35]);
        // r=random.Random(-3); l=list(range(10)); r.shuffle(l) -> [1, 5, 6, 0, 9, 4, 7, 2, 8, 3]
        let mut items: Vec<i32> = (0..10).collect();
        PyRandom::seeded(&Seed::Int(-3)).shuffle(&mut items);
        assert_eq!(items, vec![1, 5, 6, 0, 9, 4, 7, 2, 8, 3]);
        // random.Random(2**70+5).randrange(0,1000) -> 478 (a three-word key)
        let mut r = PyRandom::seeded(&Seed::Int((1i128 << 70) + 5));
        assert_eq!(r.randrange(0, 1000, 1).unwrap(), 478);
        // random.Random(0).randrange(0, 2**40) -> 849735321549 (two-word getrandbits)
        let mut r = PyRandom::seeded(&Seed::Int(0));
        assert_eq!(r.randrange(0, 1 << 40, 1).unwrap(), 849_735_321_549);
    }

    #[test]
    fn matches_cpython_for_text_seeds() {
        // random.Random("abc"): [r.randrange(0,100) for _ in range(3)] -> [98, 71, 58]
        let mut r = PyRandom::seeded(&Seed::Text("abc".into()));
        let drawn: Vec<i64> = (0..3).map(|_| r.randrange(0, 100, 1).unwrap()).collect();
        assert_eq!(drawn, vec![98, 71, 58]);
    }
}

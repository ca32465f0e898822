//! Hashing while streaming: SHA-256 (the content address) and BLAKE3
//! updated from each chunk as it passes, so the bytes are read once and
//! never held whole.

use sha2::{Digest as _, Sha256};

/// The running digests and size of bytes seen so far.
#[derive(Debug, Clone, Default)]
pub(crate) struct Digests {
    sha256: Sha256,
    blake3: blake3::Hasher,
    size: u64,
}

/// The digests and size of complete content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Digested {
    /// Lower-case hex SHA-256.
    pub(crate) sha256: String,
    /// Lower-case hex BLAKE3.
    pub(crate) blake3: String,
    /// Bytes hashed.
    pub(crate) size: u64,
}

impl Digests {
    /// Adds the next bytes to both digests.
    pub(crate) fn update(&mut self, chunk: &[u8]) {
        self.sha256.update(chunk);
        self.blake3.update(chunk);
        self.size += chunk.len() as u64;
    }

    /// Returns how many bytes were hashed so far.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Returns the digests of everything hashed.
    pub(crate) fn finish(self) -> Digested {
        Digested {
            sha256: hex::encode(self.sha256.finalize()),
            blake3: self.blake3.finalize().to_hex().to_string(),
            size: self.size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_do_not_depend_on_chunking() {
        let bytes: Vec<u8> = (0..100_000u32).map(|index| (index % 251) as u8).collect();
        let mut whole = Digests::default();
        whole.update(&bytes);
        let mut pieces = Digests::default();
        for chunk in bytes.chunks(977) {
            pieces.update(chunk);
        }
        assert_eq!(whole.finish(), pieces.finish());
    }

    #[test]
    fn known_digests_of_nothing_and_abc() {
        let empty = Digests::default().finish();
        assert_eq!(empty.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(empty.blake3, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
        let mut abc = Digests::default();
        abc.update(b"abc");
        let abc = abc.finish();
        assert_eq!(abc.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(abc.blake3, "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85");
        assert_eq!(abc.size, 3);
    }
}

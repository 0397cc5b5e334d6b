//! Helpers shared by the crate's unit tests.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use rand_core::{OsRng, RngCore};

/// A scratch directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    /// Creates `tw-<tag>-test-<random>`.
    pub(crate) fn new(tag: &str) -> TempDir {
        let mut r = [0u8; 8];
        OsRng.fill_bytes(&mut r);
        let p = std::env::temp_dir().join(format!("tw-{tag}-test-{}", hex::encode(r)));
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

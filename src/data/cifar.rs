//! CIFAR-10, binary version: `data_batch_1.bin` … `data_batch_5.bin` and `test_batch.bin`, each a
//! sequence of 3073-byte records (one label byte, then 3x32x32 pixels, channel-major).

use std::path::{Path, PathBuf};

use super::{DataError, Dataset, Split};

/// Bytes per record: label + 3 * 32 * 32.
pub const CIFAR_RECORD: usize = 1 + 3 * 32 * 32;
const GET_CIFAR: &str = "get the binary version from https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz, unpack it and set data.dir to the cifar-10-batches-bin directory";

fn read_batches(paths: &[PathBuf]) -> Result<Split, DataError> {
    let mut split = Split {
        images: Vec::new(),
        labels: Vec::new(),
    };
    for path in paths {
        let bytes = std::fs::read(path).map_err(|e| {
            let problem = if path.parent().is_some_and(Path::is_dir) {
                format!("cannot read: {e}")
            } else {
                "directory does not exist".into()
            };
            DataError::file(path, problem, GET_CIFAR)
        })?;
        if bytes.is_empty() || bytes.len() % CIFAR_RECORD != 0 {
            return Err(DataError::file(
                path,
                format!(
                    "is {} bytes, not a whole number of {CIFAR_RECORD}-byte CIFAR-10 records (truncated?)",
                    bytes.len()
                ),
                GET_CIFAR,
            ));
        }
        for record in bytes.chunks_exact(CIFAR_RECORD) {
            if record[0] >= 10 {
                return Err(DataError::file(
                    path,
                    format!(
                        "label {} is out of range 0..10 (is this CIFAR-100?)",
                        record[0]
                    ),
                    GET_CIFAR,
                ));
            }
            split.labels.push(record[0]);
            split.images.extend_from_slice(&record[1..]);
        }
    }
    Ok(split)
}

/// Loads CIFAR-10 from `dir` (or from `dir/cifar-10-batches-bin`).
pub fn load_cifar10(dir: &Path) -> Result<Dataset, DataError> {
    let nested = dir.join("cifar-10-batches-bin");
    let dir = if dir.join("test_batch.bin").is_file() || !nested.is_dir() {
        dir
    } else {
        &nested
    };
    let train: Vec<PathBuf> = (1..=5)
        .map(|i| dir.join(format!("data_batch_{i}.bin")))
        .collect();
    let train = read_batches(&train)?;
    let test = read_batches(&[dir.join("test_batch.bin")])?;
    Ok(Dataset::from_splits(
        "cifar10",
        [3, 32, 32],
        10,
        train,
        test,
    ))
}

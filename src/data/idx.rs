//! IDX files (the MNIST / Fashion-MNIST format), raw or gzip-compressed.
//!
//! Layout: big-endian magic `0x0000_08TT_ND` (`TT` = 0x08 for unsigned bytes, `ND` = number of
//! dimensions), `ND` big-endian u32 dimension sizes, then the data.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{DataError, Dataset, Split};
use crate::config::DataSource;

const GET_FASHION: &str = "Fashion-MNIST: `sudo apt-get install dataset-fashion-mnist` (installs into /usr/share/datasets/fashion-mnist), or download the four *-ubyte.gz files from https://github.com/zalandoresearch/fashion-mnist and set data.dir";
const GET_MNIST: &str = "MNIST: download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz and set data.dir to their directory";

/// An IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads one IDX file of unsigned bytes. `.gz` files are decompressed.
pub fn read_idx(path: &Path, hint: &str) -> Result<IdxArray, DataError> {
    let file = std::fs::File::open(path)
        .map_err(|e| DataError::file(path, format!("cannot open: {e}"), hint))?;
    let mut bytes = Vec::new();
    let is_gz = path.extension().is_some_and(|e| e == "gz");
    let read = if is_gz {
        flate2::read::GzDecoder::new(file).read_to_end(&mut bytes)
    } else {
        std::io::BufReader::new(file).read_to_end(&mut bytes)
    };
    read.map_err(|e| DataError::file(path, format!("cannot read (corrupt gzip?): {e}"), hint))?;
    parse_idx(&bytes).map_err(|problem| DataError::file(path, problem, hint))
}

fn parse_idx(bytes: &[u8]) -> Result<IdxArray, String> {
    let expected = "expected an IDX file of unsigned bytes (magic 0x0000_08_01 for labels or 0x0000_08_03 for images)";
    if bytes.len() < 4 {
        return Err(format!("file is {} bytes long; {expected}", bytes.len()));
    }
    if bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 || bytes[3] == 0 {
        return Err(format!(
            "wrong magic number {:02x?}; {expected}",
            &bytes[..4]
        ));
    }
    let ndim = usize::from(bytes[3]);
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(format!(
            "truncated header: {ndim} dimensions need {header} bytes, file has {}",
            bytes.len()
        ));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let len: usize = dims.iter().product();
    let body = &bytes[header..];
    if body.len() != len {
        return Err(format!(
            "truncated or oversized: header says {dims:?} = {len} bytes of data, file has {}",
            body.len()
        ));
    }
    Ok(IdxArray {
        dims,
        data: body.to_vec(),
    })
}

/// Finds `stem` or `stem.gz` in `dir`.
fn find(dir: &Path, stem: &str, hint: &str) -> Result<PathBuf, DataError> {
    let raw = dir.join(stem);
    let gz = dir.join(format!("{stem}.gz"));
    if gz.is_file() {
        Ok(gz)
    } else if raw.is_file() {
        Ok(raw)
    } else {
        let what = if dir.is_dir() {
            "file not found"
        } else {
            "directory does not exist"
        };
        Err(DataError::file(
            &gz,
            format!("{what} (looked for {stem} and {stem}.gz)"),
            hint,
        ))
    }
}

fn load_split(dir: &Path, prefix: &str, hint: &str) -> Result<(Split, [usize; 2]), DataError> {
    let images_path = find(dir, &format!("{prefix}-images-idx3-ubyte"), hint)?;
    let labels_path = find(dir, &format!("{prefix}-labels-idx1-ubyte"), hint)?;
    let images = read_idx(&images_path, hint)?;
    let labels = read_idx(&labels_path, hint)?;
    if images.dims.len() != 3 {
        return Err(DataError::file(
            &images_path,
            format!(
                "has {} dimensions, expected 3 (n, rows, cols)",
                images.dims.len()
            ),
            hint,
        ));
    }
    if labels.dims.len() != 1 || labels.dims[0] != images.dims[0] {
        return Err(DataError::file(
            &labels_path,
            format!(
                "has shape {:?}, expected [{}] to match {}",
                labels.dims,
                images.dims[0],
                images_path.display()
            ),
            hint,
        ));
    }
    if let Some(bad) = labels.data.iter().find(|&&l| l >= 10) {
        return Err(DataError::file(
            &labels_path,
            format!("label {bad} is out of range 0..10"),
            hint,
        ));
    }
    Ok((
        Split {
            images: images.data,
            labels: labels.data,
        },
        [images.dims[1], images.dims[2]],
    ))
}

/// Loads `train-*` and `t10k-*` IDX pairs from `dir`.
pub fn load_idx_pair(dir: &Path, source: DataSource) -> Result<Dataset, DataError> {
    let hint = if source == DataSource::Mnist {
        GET_MNIST
    } else {
        GET_FASHION
    };
    let (train, [h, w]) = load_split(dir, "train", hint)?;
    let (test, test_hw) = load_split(dir, "t10k", hint)?;
    if test_hw != [h, w] {
        return Err(DataError::file(
            dir,
            format!(
                "train images are {h}x{w} but test images are {}x{}",
                test_hw[0], test_hw[1]
            ),
            hint,
        ));
    }
    if h % 4 != 0 || w % 4 != 0 {
        return Err(DataError::file(
            dir,
            format!("images are {h}x{w}; resdash needs sides divisible by 4 (two stride-2 stages)"),
            hint,
        ));
    }
    Ok(Dataset::from_splits(
        source.name(),
        [1, h, w],
        10,
        train,
        test,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_checked() {
        assert!(parse_idx(&[0, 0, 8, 1, 0, 0, 0, 2, 7, 9]).is_ok());
        assert!(
            parse_idx(&[0, 0, 8, 1, 0, 0, 0, 3, 7, 9])
                .unwrap_err()
                .contains("truncated")
        );
        assert!(
            parse_idx(&[1, 0, 8, 1, 0, 0, 0, 2, 7, 9])
                .unwrap_err()
                .contains("magic")
        );
        assert!(parse_idx(&[0, 0]).is_err());
    }
}

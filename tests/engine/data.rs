use std::io::Write;
use std::path::Path;

use resdash::config::{Config, DataSource};
use resdash::data::{self, CIFAR_RECORD, load_cifar10, load_idx_pair};

fn idx_bytes(magic_type: u8, dims: &[u32], body: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, magic_type, dims.len() as u8];
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.extend_from_slice(body);
    bytes
}

fn write(path: &Path, bytes: &[u8], gz: bool) {
    if gz {
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(path).unwrap(),
            flate2::Compression::fast(),
        );
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap();
    } else {
        std::fs::write(path, bytes).unwrap();
    }
}

/// Writes a 28x28 IDX pair with `n` images whose pixels encode their index and label.
fn write_idx_fixture(dir: &Path, prefix: &str, n: usize, gz: bool) {
    let images: Vec<u8> = (0..n).flat_map(|i| vec![i as u8; 28 * 28]).collect();
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    let suffix = if gz { ".gz" } else { "" };
    write(
        &dir.join(format!("{prefix}-images-idx3-ubyte{suffix}")),
        &idx_bytes(8, &[n as u32, 28, 28], &images),
        gz,
    );
    write(
        &dir.join(format!("{prefix}-labels-idx1-ubyte{suffix}")),
        &idx_bytes(8, &[n as u32], &labels),
        gz,
    );
}

#[test]
fn idx_fixtures_read_back_raw_and_gzipped() {
    for gz in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        write_idx_fixture(dir.path(), "train", 12, gz);
        write_idx_fixture(dir.path(), "t10k", 5, gz);
        let d = load_idx_pair(dir.path(), DataSource::FashionMnist).unwrap();
        assert_eq!(
            (d.shape, d.classes, d.train.len(), d.test.len()),
            ([1, 28, 28], 10, 12, 5)
        );
        assert_eq!(d.train.labels[7], 7);
        assert!(d.train.images[7 * 784..8 * 784].iter().all(|&p| p == 7));
    }
}

#[test]
fn idx_problems_name_the_path_and_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let e = load_idx_pair(dir.path(), DataSource::FashionMnist)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("train-images-idx3-ubyte")
            && e.contains("apt-get install dataset-fashion-mnist"),
        "{e}"
    );

    write_idx_fixture(dir.path(), "train", 4, false);
    write_idx_fixture(dir.path(), "t10k", 4, false);
    let images = dir.path().join("t10k-images-idx3-ubyte");
    let full = std::fs::read(&images).unwrap();
    std::fs::write(&images, &full[..full.len() - 100]).unwrap();
    let e = load_idx_pair(dir.path(), DataSource::FashionMnist)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("t10k-images-idx3-ubyte") && e.contains("truncated"),
        "{e}"
    );

    let mut wrong = full.clone();
    wrong[2] = 0x0D; // float type instead of unsigned byte
    std::fs::write(&images, &wrong).unwrap();
    let e = load_idx_pair(dir.path(), DataSource::FashionMnist)
        .unwrap_err()
        .to_string();
    assert!(e.contains("magic"), "{e}");

    std::fs::write(&images, &full).unwrap();
    let labels = dir.path().join("t10k-labels-idx1-ubyte");
    std::fs::write(&labels, idx_bytes(8, &[3], &[1, 2, 3])).unwrap();
    let e = load_idx_pair(dir.path(), DataSource::FashionMnist)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("t10k-labels-idx1-ubyte") && e.contains("[3]"),
        "{e}"
    );
}

fn write_cifar(dir: &Path, name: &str, n: usize, label_base: u8) {
    let mut bytes = Vec::new();
    for i in 0..n {
        bytes.push((label_base + i as u8) % 10);
        bytes.extend((0..3 * 1024).map(|p| ((p / 1024) * 100 + i) as u8));
    }
    std::fs::write(dir.join(name), bytes).unwrap();
}

#[test]
fn cifar_fixtures_read_back_and_truncation_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    for b in 1..=5 {
        write_cifar(dir.path(), &format!("data_batch_{b}.bin"), 3, b);
    }
    write_cifar(dir.path(), "test_batch.bin", 2, 0);
    let d = load_cifar10(dir.path()).unwrap();
    assert_eq!((d.shape, d.train.len(), d.test.len()), ([3, 32, 32], 15, 2));
    assert_eq!(d.train.labels[..3], [1, 2, 3]);
    // Channel-major: red plane of image 1 is 1, green 101, blue 201.
    let image = &d.train.images[3072..2 * 3072];
    assert_eq!((image[0], image[1024], image[2048]), (1, 101, 201));

    let path = dir.path().join("data_batch_3.bin");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..CIFAR_RECORD + 10]).unwrap();
    let e = load_cifar10(dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("data_batch_3.bin") && e.contains("truncated"),
        "{e}"
    );

    let e = load_cifar10(&dir.path().join("nowhere"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("nowhere") && e.contains("cifar-10-binary.tar.gz"),
        "{e}"
    );
}

#[test]
fn augmentation_only_changes_training_batches_and_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    for b in 1..=5 {
        write_cifar(dir.path(), &format!("data_batch_{b}.bin"), 2, b);
    }
    write_cifar(dir.path(), "test_batch.bin", 2, 0);
    let mut d = load_cifar10(dir.path()).unwrap();
    let plain = d.batch(&d.train, &[0, 1, 2, 3], None);
    d.augment = true;
    let a = d.batch(&d.train, &[0, 1, 2, 3], Some([1, 0, 0]));
    let b = d.batch(&d.train, &[0, 1, 2, 3], Some([1, 0, 0]));
    assert_eq!(a, b);
    assert_ne!(a.images, plain.images);
    assert_eq!(d.batch(&d.train, &[0, 1, 2, 3], None), plain);
}

#[test]
fn the_real_debian_fashion_mnist_files() {
    let dir = Path::new("/usr/share/datasets/fashion-mnist");
    assert!(
        dir.is_dir(),
        "{} is missing: `sudo apt-get install dataset-fashion-mnist` (the README's test command needs it)",
        dir.display()
    );
    let d = data::load(
        &Config::from_toml("[data]\nsource = \"fashion-mnist\"\n", "test", &[]).unwrap(),
    )
    .unwrap();
    assert_eq!(
        (d.shape, d.train.len(), d.test.len()),
        ([1, 28, 28], 60_000, 10_000)
    );
    for (split, per_class) in [(&d.train, 6_000), (&d.test, 1_000)] {
        let mut counts = [0usize; 10];
        for &l in &split.labels {
            counts[usize::from(l)] += 1;
        }
        assert_eq!(counts, [per_class; 10]);
    }
    assert!(
        (0.25..0.35).contains(&d.mean[0]),
        "Fashion-MNIST mean pixel is about 0.286: {}",
        d.mean[0]
    );
}

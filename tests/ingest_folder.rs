//! What ingest makes of the files in a folder: a compressed file is refused before anything
//! is read, names are matched to tables without regard to case, and every file that is not
//! read gets a note saying why. On SQLite and PostgreSQL.

#[macro_use]
mod common;
use common::write;

use std::path::Path;

fn good_files(dir: &Path) {
    write(dir, "warehouses.csv", b"warehouse,region\nW1,East\n");
    write(dir, "products.csv", b"sku,category\nS1,sofas\n");
    write(
        dir,
        "sales.csv",
        b"date,sku,warehouse,units\n2025-11-28,S1,W1,5\n",
    );
}

/// A compressed file's magic number followed by bytes that are not a valid stream: ingest
/// must refuse it by its first bytes, without decompressing anything.
fn compressed(magic: &[u8]) -> Vec<u8> {
    let mut bytes = magic.to_vec();
    bytes.extend((0..512u32).map(|i| (i.wrapping_mul(2654435761) >> 11) as u8));
    bytes
}

async fn assert_nothing_loaded(url: &str) {
    let store = common::open(url).await;
    for table in ["warehouses", "products", "sales", "ingest_runs"] {
        assert_eq!(common::count(&store, table).await, 0, "{table} stays empty");
    }
    store.close().await;
}

/// `gzip -c sales.csv > DIR/sales.csv`: one line naming the file and the compression, exit 2,
/// and nothing loaded from the good files either.
async fn a_gzip_file_is_refused_and_nothing_loads(url: &str, dir: &Path) {
    good_files(dir);
    write(dir, "sales.csv", compressed(&[0x1f, 0x8b, 0x08, 0x00]));
    let stderr = common::ingest_refused(url, dir);
    assert!(stderr.contains("sales.csv"), "{stderr}");
    assert!(stderr.contains("gzip-compressed"), "{stderr}");
    assert!(stderr.contains("decompress it first"), "{stderr}");
    assert!(!stderr.contains("internal error"), "{stderr}");
    assert_nothing_loaded(url).await;
}

/// The same for zstd, in the first file of the load order (a Parquet one): refused before
/// any file is read.
async fn a_zstd_file_is_refused_and_nothing_loads(url: &str, dir: &Path) {
    good_files(dir);
    std::fs::remove_file(dir.join("warehouses.csv")).unwrap();
    write(
        dir,
        "warehouses.parquet",
        compressed(&[0x28, 0xb5, 0x2f, 0xfd]),
    );
    let stderr = common::ingest_refused(url, dir);
    assert!(stderr.contains("warehouses.parquet"), "{stderr}");
    assert!(stderr.contains("zstd-compressed"), "{stderr}");
    assert_nothing_loaded(url).await;
}

/// Misnamed files get one note each on stderr, saying why; `Sales.CSV` is a sales file.
/// Hidden files, folders and ingest's own quarantine files are passed over in silence.
async fn skipped_files_are_noted(url: &str, dir: &Path) {
    good_files(dir);
    let day = |date: &str| format!("date,sku,warehouse,units\n{date},S1,W1,1\n");
    write(dir, "Sales.CSV", day("2025-11-29").as_bytes());
    write(dir, "salez.csv", day("2025-11-30").as_bytes());
    write(dir, "sales.txt", day("2025-12-01").as_bytes());
    write(dir, "sales.csv.gz", compressed(&[0x1f, 0x8b]));
    write(dir, "notes.md", b"# notes\n");
    write(dir, ".sales.csv.swp", b"junk");
    write(dir, "old.rejected.csv", b"line,reason\n");
    std::fs::create_dir_all(dir.join("truth")).unwrap();

    let assert = common::stockcast(url)
        .args(["ingest", "--data"])
        .arg(dir)
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    let note = |name: &str| -> String {
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|line| line.starts_with("note: skipped ") && line.contains(name))
            .collect();
        assert_eq!(lines.len(), 1, "one note for {name} in: {stderr}");
        lines[0].to_string()
    };
    assert!(
        note("salez.csv").contains("no table named 'salez' (did you mean sales?)"),
        "{stderr}"
    );
    assert!(
        note("sales.txt").contains("a sales file must end in .csv or .parquet"),
        "{stderr}"
    );
    assert!(
        note("sales.csv.gz").contains("gzip-compressed sales file; decompress it"),
        "{stderr}"
    );
    assert!(note("notes.md").contains("not an input file"), "{stderr}");
    assert_eq!(
        stderr
            .lines()
            .filter(|line| line.starts_with("note: skipped"))
            .count(),
        4,
        "nothing else is noted: {stderr}"
    );
    assert!(!stderr.contains(".swp") && !stderr.contains("old.rejected.csv"));
    assert!(!stderr.contains("truth"), "{stderr}");
    assert!(
        stdout.contains("Sales.CSV"),
        "read as a sales file: {stdout}"
    );

    let store = common::open(url).await;
    assert_eq!(
        common::count(&store, "sales").await,
        2,
        "sales.csv and Sales.CSV load; the skipped files do not"
    );
    store.close().await;
}

/// A folder whose only candidates are misnamed says so in the one error line.
async fn a_folder_of_misnamed_files_names_them(url: &str, dir: &Path) {
    write(dir, "salez.csv", b"date,sku,warehouse,units\n");
    write(dir, "products.xlsx", b"PK\x03\x04");
    let stderr = common::ingest_refused(url, dir);
    assert!(stderr.contains("no input files found"), "{stderr}");
    assert!(
        stderr.contains("skipped products.xlsx, salez.csv"),
        "{stderr}"
    );
}

ingest_on_both_backends! {
    gzip_input => a_gzip_file_is_refused_and_nothing_loads,
    zstd_input => a_zstd_file_is_refused_and_nothing_loads,
    skipped_files => skipped_files_are_noted,
    only_misnamed_files => a_folder_of_misnamed_files_names_them,
}

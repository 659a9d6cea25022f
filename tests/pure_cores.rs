//! The pure cores do no IO (ARCHITECTURE.md, "Architecture Invariant: the pure cores do no
//! IO"): no database, files, clock, network or environment, and no import of an edge
//! module. The compiler cannot see this rule inside one crate, so this test reads the
//! sources and names the file and line that breaks it.

use std::path::{Path, PathBuf};

/// Files and folders of the pure cores.
const PURE: [&str; 22] = [
    "src/contract.rs",
    "src/calendar.rs",
    "src/ingest/validate.rs",
    "src/allocate",
    "src/reserve",
    "src/jobs/schedule.rs",
    "src/jobs/guard.rs",
    "src/keys/role.rs",
    "src/forecast/build_panel.rs",
    "src/forecast/panel.rs",
    "src/forecast/cell.rs",
    "src/forecast/events.rs",
    "src/forecast/features.rs",
    "src/forecast/model.rs",
    "src/forecast/boosted.rs",
    "src/forecast/baselines.rs",
    "src/forecast/selection.rs",
    "src/forecast/engine.rs",
    "src/forecast/quantiles.rs",
    "src/forecast/evaluation.rs",
    "src/forecast/backtest.rs",
    "src/forecast/metrics.rs",
];

/// Timing tests of the solver measure the wall clock on purpose.
const EXEMPT: [&str; 1] = ["src/allocate/tests.rs"];

/// What IO looks like in source: crates and std paths that reach a database, a file, the
/// clock, the network or the environment.
const FORBIDDEN: [&str; 14] = [
    "sqlx",
    "tokio",
    "axum",
    "hyper",
    "reqwest",
    "std::fs",
    "std::net",
    "std::env",
    "File::",
    "Utc::now",
    "Local::now",
    "Instant::now",
    "SystemTime",
    "println!",
];

/// Edge modules a pure core must not import.
const EDGES: [&str; 12] = [
    "crate::store",
    "crate::serve",
    "crate::cli",
    "crate::report",
    "crate::reservation_store",
    "crate::allocation",
    "crate::bench",
    "crate::ingest::read",
    "crate::forecast::dataset",
    "crate::forecast::output",
    "crate::forecast::registry",
    "crate::forecast::pipeline",
];

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        entries.sort();
        for entry in entries {
            rust_files(&entry, out);
        }
    } else if path.extension().is_some_and(|ext| ext == "rs") {
        out.push(path.to_path_buf());
    }
}

/// The code of a line, without a trailing `//` comment (doc comments may name IO freely).
fn code_of(line: &str) -> &str {
    match line.find("//") {
        Some(at) => &line[..at],
        None => line,
    }
}

fn violations(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for entry in PURE {
        let path = root.join(entry);
        assert!(
            path.exists(),
            "{entry} is listed as a pure core but does not exist"
        );
        rust_files(&path, &mut files);
    }
    let mut found = Vec::new();
    for file in files {
        let relative = file
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .to_string();
        if EXEMPT.contains(&relative.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            let code = code_of(line);
            for token in FORBIDDEN.iter().chain(EDGES.iter()) {
                if code.contains(token) {
                    found.push(format!("{relative}:{}: {token}", number + 1));
                }
            }
        }
    }
    found
}

#[test]
fn the_pure_cores_do_no_io_and_import_no_edge() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let found = violations(root);
    assert!(found.is_empty(), "IO in a pure core:\n{}", found.join("\n"));
}

#[test]
fn the_check_sees_io_where_there_is_some() {
    let dir = tempfile::tempdir().unwrap();
    for entry in PURE {
        let path = dir.path().join(entry);
        if entry.ends_with(".rs") {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "// std::fs in a comment is fine\npub fn f() {}\n").unwrap();
        } else {
            std::fs::create_dir_all(&path).unwrap();
        }
    }
    assert!(violations(dir.path()).is_empty());
    std::fs::write(
        dir.path().join("src/forecast/engine.rs"),
        "use crate::store::Store;\nfn now() { let _ = chrono::Utc::now(); }\n",
    )
    .unwrap();
    assert_eq!(
        violations(dir.path()),
        vec![
            "src/forecast/engine.rs:1: crate::store".to_string(),
            "src/forecast/engine.rs:2: Utc::now".to_string(),
        ]
    );
}

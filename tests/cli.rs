//! The command line as a user meets it: help, exit codes, one-line errors, the nightly job.

mod common;

use predicates::prelude::*;

#[test]
fn every_command_explains_itself() {
    let dir = tempfile::tempdir().unwrap();
    let url = common::sqlite_url(dir.path());
    common::stockcast(&url)
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("ingest").and(predicate::str::contains("generate")));
    for command in [
        vec!["generate"],
        vec!["ingest"],
        vec!["db"],
        vec!["db", "migrate"],
        vec!["db", "status"],
        vec!["jobs"],
        vec!["jobs", "run"],
        vec!["jobs", "list"],
        vec!["bench"],
        vec!["bench", "ingest"],
    ] {
        let mut args = command.clone();
        args.push("--help");
        common::stockcast(&url)
            .args(&args)
            .assert()
            .success()
            .stdout(predicate::str::contains("Usage:"));
    }
}

#[test]
fn bad_usage_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let url = common::sqlite_url(dir.path());
    common::stockcast(&url).arg("frobnicate").assert().code(2);
    common::stockcast(&url)
        .args(["generate", "--skus", "many"])
        .assert()
        .code(2);
    common::stockcast(&url)
        .args(["ingest", "--data"])
        .arg(dir.path().join("missing"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing"));
    common::stockcast("mysql://nope")
        .args(["db", "status"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "expected sqlite://PATH or postgres://",
        ));
    common::stockcast(&url)
        .args(["generate", "--skus", "0", "--out"])
        .arg(dir.path().join("g"))
        .assert()
        .code(2);
}

#[test]
fn an_invalid_job_file_is_refused_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("jobs");
    std::fs::create_dir_all(&jobs).unwrap();
    std::fs::write(
        jobs.join("nightly.toml"),
        "name = \"nightly\"\nschedule = \"0 0 2 * * *\"\ndata_dir = \"data\"\nsteps = [\"ingest\", \"sumary\"]\n",
    )
    .unwrap();
    common::stockcast(&common::sqlite_url(dir.path()))
        .args(["jobs", "list", "--jobs-dir"])
        .arg(&jobs)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("nightly.toml: line 4")
                .and(predicate::str::contains("sumary")),
        );
}

#[test]
fn the_nightly_job_generates_sample_data_on_first_use_then_only_ingests_changes() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("jobs");
    std::fs::create_dir_all(&jobs).unwrap();
    std::fs::write(
        jobs.join("nightly.toml"),
        "name = \"nightly\"\nschedule = \"0 30 2 * * *\"\ndata_dir = \"data/sample\"\nsteps = [\"ingest\", \"summary\"]\n\
         [sample]\nskus = 15\nwarehouses = 2\ndays = 90\nseed = 3\n",
    )
    .unwrap();
    let url = common::sqlite_url(dir.path());
    common::stockcast(&url)
        .current_dir(dir.path())
        .args(["jobs", "run", "nightly"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("generated sample data")
                .and(predicate::str::contains("sales history"))
                .and(predicate::str::contains("loaded")),
        );
    assert!(dir.path().join("data/sample/sales.csv").exists());
    common::stockcast(&url)
        .current_dir(dir.path())
        .args(["jobs", "run", "nightly"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("unchanged")
                .and(predicate::str::contains("generated sample").not()),
        );
}

/// A production job has no `[sample]`: a mistyped or empty data folder fails the run as bad
/// input (exit 2) in one line naming the folder, and no data is invented into it.
#[test]
fn a_nightly_without_input_files_fails_as_bad_input_and_invents_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("jobs");
    std::fs::create_dir_all(&jobs).unwrap();
    std::fs::create_dir_all(dir.path().join("data/empty")).unwrap();
    let url = common::sqlite_url(dir.path());
    for (folder, problem) in [
        ("data/smaple", "No such file or directory"),
        ("data/empty", "no input files found"),
    ] {
        std::fs::write(
            jobs.join("nightly.toml"),
            format!(
                "name = \"nightly\"\nschedule = \"0 30 2 * * *\"\ndata_dir = \"{folder}\"\n\
                 steps = [\"ingest\", \"summary\"]\n"
            ),
        )
        .unwrap();
        let output = common::stockcast(&url)
            .current_dir(dir.path())
            .args(["jobs", "run", "nightly", "--quiet"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{folder}: {stderr}");
        // The failure is also logged (as every failure is); the error itself is one line.
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{stderr}");
        assert!(
            errors[0].starts_with("error: job nightly: run ")
                && errors[0].contains("failed at step ingest")
                && errors[0].contains(folder)
                && errors[0].contains(problem),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert!(!dir.path().join("data/smaple").exists());
    assert_eq!(
        std::fs::read_dir(dir.path().join("data/empty"))
            .unwrap()
            .count(),
        0,
        "nothing was generated"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn db_migrate_and_status_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = common::sqlite_url(dir.path());
    common::stockcast(&url)
        .args(["db", "migrate"])
        .assert()
        .success()
        .stdout(predicate::str::contains("migration(s) applied"));
    assert!(dir.path().join("test.db").exists());
    common::stockcast(&url)
        .args(["db", "status"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("backend: sqlite")
                .and(predicate::str::contains("ingest_runs")),
        );
}

#[tokio::test(flavor = "multi_thread")]
async fn db_migrate_and_status_on_postgres() {
    let Some(admin) = common::postgres_admin_url("db_migrate_and_status_on_postgres") else {
        return;
    };
    let scratch = common::scratch_postgres(&admin).await;
    common::stockcast(&scratch.url)
        .args(["db", "migrate"])
        .assert()
        .success();
    common::stockcast(&scratch.url)
        .args(["db", "status"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("backend: postgres").and(predicate::str::contains("applied")),
        );
    scratch.drop_database().await.unwrap();
}

/// A schedule that is out of range, five-field or never fires is refused, exit 2, naming the
/// file, the line and the rule, whichever database the job would run against.
fn bad_schedules_are_refused(url: &str, dir: &std::path::Path) {
    let jobs = dir.join("jobs");
    std::fs::create_dir_all(&jobs).unwrap();
    for (schedule, rule) in [
        ("0 60 2 * * *", "minute 60 is out of range 0–59"),
        ("30 2 * * *", "expected six fields"),
        ("0 0 0 31 2 *", "never fires"),
    ] {
        std::fs::write(
            jobs.join("nightly.toml"),
            format!("name = \"nightly\"\nschedule = \"{schedule}\"\ndata_dir = \"data\"\nsteps = [\"ingest\"]\n"),
        )
        .unwrap();
        common::stockcast(url)
            .args(["jobs", "list", "--jobs-dir"])
            .arg(&jobs)
            .assert()
            .code(2)
            .stderr(
                predicate::str::contains("nightly.toml: line 2")
                    .and(predicate::str::contains(rule))
                    .and(predicate::str::contains("panicked").not()),
            );
    }
}

#[test]
fn bad_schedules_are_refused_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    bad_schedules_are_refused(&common::sqlite_url(dir.path()), dir.path());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_schedules_are_refused_on_postgres() {
    common::on_scratch_postgres(
        "bad_schedules_are_refused_on_postgres",
        |url, dir| async move {
            bad_schedules_are_refused(&url, &dir);
        },
    )
    .await;
}

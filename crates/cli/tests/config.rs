//! `breakwater check-config` and `breakwater audit verify`, run as the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data")
}

fn run(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_breakwater"));
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("BREAKWATER_CONFIG")
        .env_remove("BREAKWATER_LISTEN")
        .env_remove("BREAKWATER_DATABASE_URL")
        .env_remove("BREAKWATER_DATA_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("the binary runs");
    (
        status.code().unwrap_or(-1),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

#[test]
fn check_config_prints_the_effective_configuration_and_checks_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir().display().to_string();
    std::fs::write(
        dir.path().join("breakwater.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:9999\"\n\n[data]\ndir = {data:?}\n\n\
             [webhooks]\nmax_attempts = 4\n"
        ),
    )
    .unwrap();
    let (code, out, err) = run(
        dir.path(),
        &["check-config"],
        &[("BREAKWATER_WEBHOOKS_TIMEOUT_SECONDS", "7")],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("file: breakwater.toml"), "{out}");
    assert!(
        out.contains("listen = \"127.0.0.1:9999\"  # file breakwater.toml"),
        "{out}"
    );
    assert!(out.contains("max_attempts = 4  # file"), "{out}");
    assert!(
        out.contains("timeout_seconds = 7  # environment BREAKWATER_WEBHOOKS_TIMEOUT_SECONDS"),
        "{out}"
    );
    assert!(
        out.contains("request_timeout_seconds = 60  # default"),
        "{out}"
    );
    assert!(err.contains("does not exist yet"), "{err}");
    assert!(err.contains("configuration OK"), "{err}");
    assert!(
        !dir.path().join("breakwater-data").exists(),
        "checking creates no database"
    );

    // A flag beats the file.
    let (code, out, _) = run(
        dir.path(),
        &["check-config", "--listen", "127.0.0.1:9"],
        &[],
    );
    assert_eq!(code, 0);
    assert!(
        out.contains("listen = \"127.0.0.1:9\"  # flag --listen"),
        "{out}"
    );
}

#[test]
fn check_config_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("custom.toml");
    std::fs::write(&file, "[server]\nlisten = \"127.0.0.1:1\"\nlisen = \"x\"\n").unwrap();
    let (code, _, err) = run(
        dir.path(),
        &["check-config", "--config", file.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("line 3") && err.contains("`lisen`"), "{err}");

    // The file named by the environment, a missing data directory and a database that
    // cannot be created: each reported, exit 1.
    std::fs::write(dir.path().join("blocker"), "a file, not a directory").unwrap();
    std::fs::write(
        &file,
        "[data]\ndir = \"no/such/data\"\n[database]\nurl = \"blocker/sub/bw.db\"\n",
    )
    .unwrap();
    let (code, out, err) = run(
        dir.path(),
        &["check-config"],
        &[("BREAKWATER_CONFIG", file.to_str().unwrap())],
    );
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("FAIL  data directory"), "{err}");
    assert!(err.contains("FAIL  database"), "{err}");
    assert!(err.contains("2 problem(s)"), "{err}");

    // An explicitly named file must exist.
    let (code, _, err) = run(
        dir.path(),
        &["check-config", "--config", "missing.toml"],
        &[],
    );
    assert_eq!(code, 1);
    assert!(err.contains("missing.toml"), "{err}");
}

#[test]
fn check_config_reaches_postgres_and_hides_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir().display().to_string();
    // The server trusts local connections, so the password is ignored, but must not show.
    let url = "postgres://postgres:hunter2secret@127.0.0.1:5432/postgres";
    let (code, out, err) = run(
        dir.path(),
        &["--data", &data, "check-config", "--database-url", url],
        &[],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(!out.contains("hunter2secret") && !err.contains("hunter2secret"));
    assert!(
        out.contains("postgres://postgres:***@127.0.0.1:5432/postgres"),
        "{out}"
    );
    assert!(err.contains("ok    database"), "{err}");

    let (code, _, err) = run(
        dir.path(),
        &[
            "--data",
            &data,
            "check-config",
            "--database-url",
            "postgres://postgres:hunter2secret@127.0.0.1:1/postgres",
        ],
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("FAIL  database") && !err.contains("hunter2secret"),
        "{err}"
    );
}

#[test]
fn audit_verify_is_admin_verify_audit() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bw.db").display().to_string();
    let (code, org, err) = run(
        dir.path(),
        &[
            "admin",
            "create-org",
            "A",
            "--kind",
            "ngo",
            "--database-url",
            &db,
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let org = org.trim().to_string();
    let (code, _, err) = run(
        dir.path(),
        &[
            "admin",
            "create-key",
            "--org",
            &org,
            "--role",
            "admin",
            "--database-url",
            &db,
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    for args in [
        [
            "audit",
            "verify",
            "--org",
            org.as_str(),
            "--database-url",
            db.as_str(),
        ],
        [
            "admin",
            "verify-audit",
            "--org",
            org.as_str(),
            "--database-url",
            db.as_str(),
        ],
    ] {
        let (code, out, err) = run(dir.path(), &args, &[]);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(out.contains("2 entries, chain intact"), "{out}");
    }
}

//! `breakwater bank` against an embedded database: import, list, lookup, export and a
//! round trip of the export into a second bank, removal, and errors.

use std::process::{Command, Output};

fn run(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_breakwater"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .expect("the binary starts")
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn bank_commands_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let org = stdout(&run(
        d,
        &["admin", "create-org", "Unit", "--kind", "government"],
    ));
    let org = org.trim();
    stdout(&run(
        d,
        &[
            "bank",
            "create",
            "uk",
            "--org",
            org,
            "--verdict",
            "violating",
        ],
    ));
    let file = d.join("signals.csv");
    std::fs::write(
        &file,
        "kind,value,source\nphone,+44 7911 123456,unit\nhandle,Telegram:@Boza,unit\n\
         md5,D41D8CD98F00B204E9800998ECF8427E,partner\n",
    )
    .unwrap();
    let f = file.to_str().unwrap();
    assert!(stdout(&run(d, &["bank", "import", "uk", f, "--org", org])).contains("3 added"));
    assert!(stdout(&run(d, &["bank", "import", "uk", f, "--org", org])).contains("3 updated"));
    let listed = stdout(&run(d, &["bank", "list", "--org", org]));
    assert!(
        listed.contains("uk\ttrue\tviolating\t31\thandle=1,md5=1,phone=1"),
        "{listed}"
    );

    let found = run(
        d,
        &["bank", "lookup", "handle", "telegram:boza", "--org", org],
    );
    assert!(stdout(&found).contains("\tuk\tunit"));

    // Export, then import the export into a second bank: the same signals.
    let exported = stdout(&run(d, &["bank", "export", "uk", "--org", org]));
    assert_eq!(exported.lines().count(), 4);
    let copy = d.join("copy.csv");
    std::fs::write(&copy, &exported).unwrap();
    stdout(&run(d, &["bank", "create", "copy", "--org", org]));
    let c = copy.to_str().unwrap();
    assert!(stdout(&run(d, &["bank", "import", "copy", c, "--org", org])).contains("3 added"));
    assert_eq!(
        stdout(&run(d, &["bank", "export", "copy", "--org", org])),
        exported
    );

    stdout(&run(
        d,
        &[
            "bank",
            "remove",
            "uk",
            "phone",
            "+447911123456",
            "--org",
            org,
        ],
    ));
    let gone = run(
        d,
        &["bank", "lookup", "phone", "+44 7911 123456", "--org", org],
    );
    // Still in the copy, no longer in uk.
    let text = stdout(&gone);
    assert!(
        text.contains("\tcopy\t") && !text.contains("\tuk\t"),
        "{text}"
    );

    // Errors: a bad row names its line and imports nothing; bad kinds are usage errors.
    std::fs::write(&file, "kind,value\nphone,+44 7911 999999\nphone,12\n").unwrap();
    let bad = run(d, &["bank", "import", "uk", f, "--org", org]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("line 3"));
    let missing = run(
        d,
        &["bank", "lookup", "phone", "+447911999999", "--org", org],
    );
    assert_eq!(missing.status.code(), Some(3));
    let usage = run(d, &["bank", "add", "uk", "tlsh", "x", "--org", org]);
    assert_eq!(usage.status.code(), Some(2));
    let no_org = run(d, &["bank", "list", "--org", "999"]);
    assert_eq!(no_org.status.code(), Some(2));
}

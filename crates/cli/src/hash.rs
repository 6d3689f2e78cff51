//! `breakwater hash`: image hashes as partners share them.

use breakwater_media::{hash_file, hash_file_dihedral, DecodeLimits, Dihedral};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct HashArgs {
    /// Image files (JPEG, PNG, GIF, WebP, TIFF, BMP).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Also print the PDQ hashes of the 8 rotations and flips.
    #[arg(long)]
    dihedral: bool,
}

/// Prints `pdq quality md5 sha256 path` per file; a file that cannot be hashed gets a line
/// on stderr and the exit code is 1, but the other files are still hashed.
pub fn run(args: HashArgs) -> anyhow::Result<ExitCode> {
    let limits = DecodeLimits::default();
    let mut failed = 0;
    for path in &args.files {
        let shown = path.display();
        if args.dihedral {
            match hash_file_dihedral(path, &limits) {
                Ok(h) => {
                    println!(
                        "{} {} {} {} {shown}",
                        h.file.pdq, h.file.quality, h.file.md5, h.file.sha256
                    );
                    for (variant, pdq) in Dihedral::ALL.iter().zip(h.dihedral.iter()) {
                        println!("  {pdq} {variant:?}");
                    }
                }
                Err(e) => {
                    failed += 1;
                    eprintln!("{shown}: {e}");
                }
            }
        } else {
            match hash_file(path, &limits) {
                Ok(h) => println!("{} {} {} {} {shown}", h.pdq, h.quality, h.md5, h.sha256),
                Err(e) => {
                    failed += 1;
                    eprintln!("{shown}: {e}");
                }
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

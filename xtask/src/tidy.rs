//! The tidy check: conventions that keep the tree navigable, checked on every test run.
//!
//! - every Rust file opens with a `//!` comment saying what it owns;
//! - the code map in `docs/ARCHITECTURE.md` lists exactly the crates and boards that exist;
//! - every workspace crate inherits `[workspace.lints]`;
//! - firmware crates are `no_std` and depend on no host crate; boards depend on no host crate;
//! - host crates forbid `unsafe`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

pub(crate) fn check(root: &Path) -> Result<()> {
    let mut problems = Vec::new();
    file_headers(root, &mut problems);
    code_map(root, &mut problems);
    manifests(root, &mut problems);
    if problems.is_empty() {
        eprintln!("xtask: tidy: ok");
        return Ok(());
    }
    for p in &problems {
        eprintln!("tidy: {p}");
    }
    bail!("{} tidy problem(s)", problems.len())
}

/// Directories never walked: build output and third-party trees.
const SKIP_DIRS: &[&str] = &["target", "node_modules", ".git", "corpus", "artifacts"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if !SKIP_DIRS.contains(&name.as_ref()) && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

fn file_headers(root: &Path, problems: &mut Vec<String>) {
    let mut files = Vec::new();
    for top in ["firmware", "host", "tests", "boards", "xtask"] {
        rust_files(&root.join(top), &mut files);
    }
    files.sort();
    for file in files {
        let text = fs::read_to_string(&file).unwrap_or_default();
        if !text.starts_with("//!") {
            problems.push(format!(
                "{} does not open with a `//!` comment saying what it owns",
                rel(root, &file)
            ));
        }
    }
}

/// Crate directories: `<top>/<name>` holding a `Cargo.toml`, plus `xtask`.
fn crate_dirs(root: &Path, tops: &[&str]) -> Vec<String> {
    let mut dirs = Vec::new();
    for top in tops {
        let Ok(entries) = fs::read_dir(root.join(top)) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.path().join("Cargo.toml").is_file() {
                dirs.push(format!("{top}/{}", entry.file_name().to_string_lossy()));
            }
        }
    }
    dirs.sort();
    dirs
}

fn code_map(root: &Path, problems: &mut Vec<String>) {
    let Ok(arch) = fs::read_to_string(root.join("docs/ARCHITECTURE.md")) else {
        problems.push("docs/ARCHITECTURE.md is missing".into());
        return;
    };
    // Code-map entries are level-3 headings naming the directory in backticks: ### `host/store`
    let listed: Vec<String> = arch
        .lines()
        .filter_map(|l| l.strip_prefix("### `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect();
    let mut expected = crate_dirs(root, &["firmware", "host", "tests", "boards"]);
    expected.push("xtask".into());
    for dir in &expected {
        if !listed.contains(dir) {
            problems.push(format!(
                "docs/ARCHITECTURE.md code map has no entry `### `{dir}``"
            ));
        }
    }
    for dir in &listed {
        if !expected.contains(dir) {
            problems.push(format!(
                "docs/ARCHITECTURE.md code map lists `{dir}`, which does not exist"
            ));
        }
    }
}

fn manifests(root: &Path, problems: &mut Vec<String>) {
    let host_crates = crate_dirs(root, &["host"]);
    let depends_on_host = |manifest: &str| {
        host_crates.iter().any(|h| {
            let name = h.trim_start_matches("host/");
            manifest.contains(&format!("../../host/{name}\""))
                || manifest.contains(&format!("../host/{name}\""))
        })
    };
    for dir in crate_dirs(root, &["firmware", "host", "tests"])
        .into_iter()
        .chain(["xtask".to_owned()])
    {
        let manifest = fs::read_to_string(root.join(&dir).join("Cargo.toml")).unwrap_or_default();
        if !manifest.contains("[lints]") || !manifest.contains("workspace = true") {
            problems.push(format!(
                "{dir}/Cargo.toml does not inherit [workspace.lints]"
            ));
        }
        if dir.starts_with("firmware/") {
            if depends_on_host(&manifest) {
                problems.push(format!("{dir} (firmware) depends on a host crate"));
            }
            let lib = fs::read_to_string(root.join(&dir).join("src/lib.rs")).unwrap_or_default();
            if !lib.contains("#![cfg_attr(not(test), no_std)]") && !lib.contains("#![no_std]") {
                problems.push(format!("{dir}/src/lib.rs is not no_std"));
            }
        }
        if dir.starts_with("host/") {
            for entry in ["src/lib.rs", "src/main.rs"] {
                let path = root.join(&dir).join(entry);
                if let Ok(text) = fs::read_to_string(&path)
                    && !text.contains("#![forbid(unsafe_code)]")
                {
                    problems.push(format!("{dir}/{entry} does not forbid unsafe code"));
                }
            }
        }
    }
    for dir in crate_dirs(root, &["boards"]) {
        let manifest = fs::read_to_string(root.join(&dir).join("Cargo.toml")).unwrap_or_default();
        if depends_on_host(&manifest) {
            problems.push(format!("{dir} (a board) depends on a host crate"));
        }
    }
}

fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    /// The tree passes its own conventions; `cargo test` runs this.
    #[test]
    fn tidy() {
        super::check(&crate::steps::workspace_root()).unwrap();
    }
}

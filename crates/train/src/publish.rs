//! Publishing a run's files as one set: the artifact and every report change together or not
//! at all, so a crash at any moment leaves the previous set, complete and consistent (its
//! `model.json` naming its `model.bin`), or the new one.
//!
//! The files are written into a staging folder beside the output folder and flushed to disk;
//! on Linux the two folders are then swapped in one atomic `renameat2(RENAME_EXCHANGE)`, and
//! the previous set is removed. Entries of the output folder that the run does not produce
//! (such as `eda/`) are carried over. Where the swap is unavailable (another OS, a file system
//! without it, a symbolic link as output folder), each file is renamed into place in turn,
//! `model.bin` first: every file stays whole, but a crash between renames mixes two sets.
//!
//! Staging folders of processes that no longer run are cleaned up before each publication,
//! giving back any carried-over entries they still hold.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// How a set was put in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Publication {
    /// The output folder was created whole.
    Created,
    /// The output folder was swapped with the staging folder atomically.
    Swapped,
    /// Files were renamed into place one by one (no atomic swap here).
    FileByFile,
}

/// A unique suffix for this process's staging folder.
fn unique_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    // `RandomState` is seeded from the operating system's randomness.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!("{}-{random:016x}", std::process::id())
}

fn staging_prefix(out_dir: &Path) -> String {
    let name = out_dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    format!(".{name}.staging-")
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn sync_dir(path: &Path) {
    // Not every platform can open a folder; durability is then the file system's.
    if let Ok(directory) = File::open(path) {
        directory.sync_all().ok();
    }
}

/// Writes `files` (relative paths, contents) into `out_dir` as one set.
pub fn publish(out_dir: &Path, files: &[(PathBuf, &[u8])]) -> io::Result<Publication> {
    let parent = parent_of(out_dir);
    fs::create_dir_all(&parent)?;
    clean_stale_staging(out_dir);
    let staging = parent.join(format!("{}{}", staging_prefix(out_dir), unique_suffix()));
    fs::create_dir(&staging)?;
    let written = write_all(&staging, files);
    if let Err(error) = written {
        fs::remove_dir_all(&staging).ok();
        return Err(error);
    }
    if !out_dir.exists() {
        fs::rename(&staging, out_dir)?;
        sync_dir(&parent);
        return Ok(Publication::Created);
    }
    let is_link = fs::symlink_metadata(out_dir)?.file_type().is_symlink();
    if !is_link && exchange(&staging, out_dir).is_ok() {
        sync_dir(&parent);
        carry_over(&staging, out_dir);
        fs::remove_dir_all(&staging).ok();
        return Ok(Publication::Swapped);
    }
    let result = rename_each(&staging, out_dir, files);
    fs::remove_dir_all(&staging).ok();
    result.map(|()| Publication::FileByFile)
}

/// Writes every file under `root`, each flushed to disk, then the folders themselves.
fn write_all(root: &Path, files: &[(PathBuf, &[u8])]) -> io::Result<()> {
    let mut folders = vec![root.to_path_buf()];
    for (relative, contents) in files {
        let path = root.join(relative);
        if let Some(folder) = path.parent()
            && !folders.iter().any(|known| known == folder)
        {
            fs::create_dir_all(folder)?;
            folders.push(folder.to_path_buf());
        }
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        file.write_all(contents)?;
        file.sync_all()?;
    }
    // Deepest first, so each folder's entries are durable before its parent's.
    for folder in folders.iter().rev() {
        sync_dir(folder);
    }
    Ok(())
}

/// Swaps two folders atomically.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Moves entries of the previous set that the new one lacks (such as `eda/`) into `out_dir`.
fn carry_over(previous: &Path, out_dir: &Path) {
    let Ok(entries) = fs::read_dir(previous) else {
        return;
    };
    for entry in entries.flatten() {
        let target = out_dir.join(entry.file_name());
        if !target.exists() {
            fs::rename(entry.path(), target).ok();
        }
    }
}

/// The fallback: each file renamed over its old version, in the given order.
fn rename_each(staging: &Path, out_dir: &Path, files: &[(PathBuf, &[u8])]) -> io::Result<()> {
    for (relative, _) in files {
        let target = out_dir.join(relative);
        let folder = parent_of(&target);
        fs::create_dir_all(&folder)?;
        fs::rename(staging.join(relative), &target)?;
        sync_dir(&folder);
    }
    Ok(())
}

/// Whether a process with this id is running (Linux; elsewhere, assumed so, and staging
/// folders are left alone).
fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

/// Removes staging folders left by crashed runs, giving their carried-over entries back.
fn clean_stale_staging(out_dir: &Path) {
    let prefix = staging_prefix(out_dir);
    let Ok(entries) = fs::read_dir(parent_of(out_dir)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !process_alive(pid) {
            if out_dir.is_dir() {
                carry_over(&entry.path(), out_dir);
            }
            fs::remove_dir_all(entry.path()).ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(version: &str) -> Vec<(PathBuf, Vec<u8>)> {
        vec![
            (
                PathBuf::from("model.bin"),
                format!("model {version}").into_bytes(),
            ),
            (
                PathBuf::from("model.json"),
                format!("card {version}").into_bytes(),
            ),
            (
                PathBuf::from("plots/roc.svg"),
                format!("plot {version}").into_bytes(),
            ),
        ]
    }

    fn publish_version(out: &Path, version: &str) -> Publication {
        let owned = files(version);
        let borrowed: Vec<(PathBuf, &[u8])> = owned
            .iter()
            .map(|(path, bytes)| (path.clone(), bytes.as_slice()))
            .collect();
        publish(out, &borrowed).unwrap()
    }

    fn names(folder: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(folder)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_set_replaces_the_previous_one_whole_and_keeps_foreign_entries() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("sepsis");
        assert_eq!(publish_version(&out, "1"), Publication::Created);
        fs::create_dir(out.join("eda")).unwrap();
        fs::write(out.join("eda/report.html"), "eda").unwrap();
        let second = publish_version(&out, "2");
        if cfg!(target_os = "linux") {
            assert_eq!(second, Publication::Swapped);
        }
        assert_eq!(fs::read(out.join("model.bin")).unwrap(), b"model 2");
        assert_eq!(fs::read(out.join("plots/roc.svg")).unwrap(), b"plot 2");
        assert_eq!(
            fs::read(out.join("eda/report.html")).unwrap(),
            b"eda",
            "eda/ is kept"
        );
        assert_eq!(names(root.path()), ["sepsis"], "no staging folder is left");
    }

    #[test]
    fn staging_folders_of_dead_processes_are_cleaned_and_give_entries_back() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("sepsis");
        publish_version(&out, "1");
        // A crashed run's staging folder (pid 0 never belongs to a user process), holding
        // an entry carried over from the output folder.
        let stale = root.path().join(".sepsis.staging-0-00ff");
        fs::create_dir_all(stale.join("eda")).unwrap();
        fs::write(stale.join("eda/report.html"), "eda").unwrap();
        publish_version(&out, "2");
        assert!(!stale.exists());
        assert_eq!(fs::read(out.join("eda/report.html")).unwrap(), b"eda");
    }

    #[test]
    fn a_failed_write_leaves_the_previous_set_untouched() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("sepsis");
        publish_version(&out, "1");
        // A file path that cannot be created (its parent is a file) fails the write.
        let bad: Vec<(PathBuf, &[u8])> = vec![
            (PathBuf::from("model.bin"), b"model 2"),
            (PathBuf::from("model.bin/inside"), b"x"),
        ];
        assert!(publish(&out, &bad).is_err());
        assert_eq!(fs::read(out.join("model.bin")).unwrap(), b"model 1");
        assert_eq!(fs::read(out.join("model.json")).unwrap(), b"card 1");
        assert_eq!(names(root.path()), ["sepsis"]);
    }
}

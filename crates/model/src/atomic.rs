//! Crash-safe file writing, the one implementation every artifact, report and score file uses.
//!
//! Bytes go to a new temporary file beside the target; committing flushes it to disk, renames it
//! over the target and flushes the folder, so a crash at any moment leaves either the old file
//! or the complete new one, never a mix. A writer dropped without committing removes its
//! temporary file; temporary files of processes that crashed are removed the next time the same
//! target is written. Temporary names are random and created exclusively, so no existing file
//! or symbolic link is ever followed or overwritten.

use std::collections::hash_map::RandomState;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A file being written; it appears at its path only when [`AtomicFile::commit`] succeeds.
#[derive(Debug)]
pub struct AtomicFile {
    path: PathBuf,
    folder: PathBuf,
    temporary: PathBuf,
    file: Option<File>,
}

impl AtomicFile {
    /// Creates the folder if needed and opens a fresh temporary sibling of `path`.
    ///
    /// The temporary file is created exclusively (`O_EXCL`): an existing file or symbolic link
    /// with the same name is never followed or reused.
    pub fn create(path: &Path) -> io::Result<Self> {
        let folder = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&folder)?;
        let file_name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".into());
        remove_stale_temporaries(&folder, &file_name);
        let mut attempts = 0;
        loop {
            // `RandomState` is seeded from the operating system's randomness.
            let random = RandomState::new().build_hasher().finish();
            let temporary = folder.join(format!(
                ".{file_name}.{}-{random:016x}.tmp",
                std::process::id()
            ));
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temporary)
            {
                Ok(file) => {
                    return Ok(AtomicFile {
                        path: path.to_path_buf(),
                        folder,
                        temporary,
                        file: Some(file),
                    });
                }
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists && attempts < 16 => {
                    attempts += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The path the file will have once committed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes the bytes to disk, renames the file into place and persists the rename.
    pub fn commit(mut self) -> io::Result<()> {
        let Some(mut file) = self.file.take() else {
            return Err(io::Error::other("the temporary file is already closed"));
        };
        file.flush()?;
        file.sync_all()?;
        drop(file);
        fs::rename(&self.temporary, &self.path)?;
        // Persist the rename itself; not every platform can open a folder, hence `ok()`.
        if let Ok(directory) = File::open(&self.folder) {
            directory.sync_all().ok();
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        match &mut self.file {
            Some(file) => file.write(buffer),
            None => Err(io::Error::other("the temporary file is already closed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // Not committed: the target is untouched and the partial temporary file goes away.
        if self.file.take().is_some() {
            fs::remove_file(&self.temporary).ok();
        }
    }
}

/// Whether a process with this id is running (Linux; elsewhere assumed so, which keeps
/// temporary files until they are old).
fn process_alive(pid: u32) -> bool {
    !cfg!(target_os = "linux") || Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes temporary files for `file_name` in `folder` left by processes that no longer run.
fn remove_stale_temporaries(folder: &Path, file_name: &str) {
    let prefix = format!(".{file_name}.");
    let Ok(entries) = fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".tmp"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let is_file = entry.file_type().is_ok_and(|kind| kind.is_file());
        if is_file && pid != std::process::id() && !process_alive(pid) {
            fs::remove_file(entry.path()).ok();
        }
    }
}

/// Writes `bytes` to `path` crash-safely (see [`AtomicFile`]).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)?;
    file.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_in(folder: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(folder)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn commit_replaces_the_target_and_leaves_no_temporary_file() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("nested/out.txt");
        write_atomically(&path, b"first").unwrap();
        write_atomically(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(names_in(&folder.path().join("nested")), vec!["out.txt"]);
    }

    #[test]
    fn an_uncommitted_file_leaves_the_old_target_and_no_temporary_file() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("out.txt");
        write_atomically(&path, b"old").unwrap();
        {
            let mut file = AtomicFile::create(&path).unwrap();
            file.write_all(b"half of the new conte").unwrap();
            // Dropped here, as when a write fails or the process unwinds.
        }
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(names_in(folder.path()), vec!["out.txt"]);
    }

    #[test]
    fn temporaries_of_dead_processes_are_removed_and_links_never_followed() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("out.txt");
        // Left by a crashed process (pid 0 is never a user process).
        fs::write(folder.path().join(".out.txt.0-0123.tmp"), "partial").unwrap();
        // Someone else's file that merely looks alike is kept.
        fs::write(folder.path().join(".other.txt.0-0123.tmp"), "other").unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(
            names_in(folder.path()),
            vec![".other.txt.0-0123.tmp", "out.txt"]
        );
        // A symbolic link at the target is replaced, never written through.
        let outside = folder.path().join("outside.txt");
        fs::write(&outside, "keep").unwrap();
        fs::remove_file(&path).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(&outside, &path).unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(fs::read(&outside).unwrap(), b"keep");
        assert_eq!(fs::read(&path).unwrap(), b"new");
    }

    #[test]
    fn temporary_names_never_repeat() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("out.txt");
        let first = AtomicFile::create(&path).unwrap();
        let second = AtomicFile::create(&path).unwrap();
        assert_ne!(first.temporary, second.temporary);
    }
}
